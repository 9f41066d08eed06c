/**
 * The Swoole manual's broadcast example: every message goes to every connected client as
 * "Server：X"; "close" closes. Swoole's version keeps its own list of connections; here
 * `server.broadcast()` reaches every open one, and with `REDIS_URL` set (e.g.
 * `redis://127.0.0.1:6379`) every one on each process that uses the same Redis.
 *
 * Run: `node examples/broadcast.ts`, `deno run -A examples/broadcast.ts` or
 * `bun examples/broadcast.ts` (HOST, PORT and REDIS_URL from the environment, default
 * 127.0.0.1:9502 and no Redis).
 */

import process from "node:process";
import { CloseFrame, lastError, Server } from "../mod.ts";
import { RedisBroker } from "../src/pubsub/redis.ts";
import { demoPage } from "./page.ts";

const server = new Server(process.env.HOST ?? "127.0.0.1", Number(process.env.PORT ?? 9502));
if (process.env.REDIS_URL) server.useBroker(new RedisBroker({ url: process.env.REDIS_URL }));

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
      server.broadcast(`Server：${frame.data}`);
    }
  }
});

server.handle("/", (_request, response) => {
  response.header("Content-Type", "text/html; charset=utf-8");
  response.end(demoPage("coro-ws broadcast"));
});

// Ctrl-C (SIGINT) or SIGTERM: clients get 1001, handlers finish, the process exits 0.
server.shutdownOnSignals();
const stopped = server.start();
const { host, port } = await server.listening;
console.log(`listening on http://${host.includes(":") ? `[${host}]` : host}:${port}`);
await stopped;
