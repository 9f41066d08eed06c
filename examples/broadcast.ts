/**
 * The Swoole manual's broadcast example: every message goes to every connected client as
 * "Server：X"; "close" closes.
 *
 * Run: `node examples/broadcast.ts`, `deno run -A examples/broadcast.ts` or
 * `bun examples/broadcast.ts` (HOST and PORT from the environment, default 127.0.0.1:9502).
 */

import process from "node:process";
import { CloseFrame, lastError, type Response, Server } from "../mod.ts";
import { demoPage } from "./page.ts";

const server = new Server(process.env.HOST ?? "127.0.0.1", Number(process.env.PORT ?? 9502));
const wsObjects = new Map<number, Response>();

server.handle("/websocket", async (_request, ws) => {
  await ws.upgrade();
  wsObjects.set(ws.fd, ws);
  while (true) {
    const frame = await ws.recv();
    if (frame === "") {
      wsObjects.delete(ws.fd);
      ws.close();
      break;
    } else if (frame === false) {
      console.log(`errorCode: ${lastError()}`);
      wsObjects.delete(ws.fd);
      ws.close();
      break;
    } else {
      if (frame.data === "close" || frame instanceof CloseFrame) {
        wsObjects.delete(ws.fd);
        ws.close();
        break;
      }
      for (const obj of wsObjects.values()) {
        void obj.push(`Server：${frame.data}`);
      }
    }
  }
});

server.handle("/", (_request, response) => {
  response.header("Content-Type", "text/html; charset=utf-8");
  response.end(demoPage("coro-ws broadcast"));
});

const stopped = server.start();
const { host, port } = await server.listening;
console.log(`listening on http://${host.includes(":") ? `[${host}]` : host}:${port}`);
await stopped;
