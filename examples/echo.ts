/**
 * The Swoole manual's coroutine WebSocket example, line by line: `/websocket` answers each
 * message X with "Hello X!" and "How are you, X?", and "close" closes; `/` serves a page that
 * connects and shows the replies. Beyond the manual: every open connection then hears X as
 * "Broadcast: visitor FD: X" (`server.broadcast()`), so a second page sees the first one's.
 *
 * Run: `node examples/echo.ts`, `deno run -A examples/echo.ts` or `bun examples/echo.ts`
 * (HOST and PORT from the environment, default 127.0.0.1:9502).
 */

import process from "node:process";
import { CloseFrame, lastError, Server } from "../mod.ts";
import { demoPage } from "./page.ts";

const server = new Server(process.env.HOST ?? "127.0.0.1", Number(process.env.PORT ?? 9502));

server.handle("/websocket", async (_request, ws) => {
  await ws.upgrade();
  while (true) {
    const frame = await ws.recv();
    if (frame === "") {
      ws.close();
      break;
    } else if (frame === false) {
      console.log(`errorCode: ${lastError()}`);
      ws.close();
      break;
    } else {
      if (frame.data === "close" || frame instanceof CloseFrame) {
        ws.close();
        break;
      }
      await ws.push(`Hello ${frame.data}!`);
      await ws.push(`How are you, ${frame.data}?`);
      server.broadcast(`Broadcast: visitor ${ws.fd}: ${frame.data}`);
    }
  }
});

server.handle("/", (_request, response) => {
  response.header("Content-Type", "text/html; charset=utf-8");
  response.end(demoPage("coro-ws echo"));
});

// Ctrl-C (SIGINT) or SIGTERM: clients get 1001, handlers finish, the process exits 0.
server.shutdownOnSignals();
const stopped = server.start();
const { host, port } = await server.listening;
console.log(`listening on http://${host.includes(":") ? `[${host}]` : host}:${port}`);
await stopped;
