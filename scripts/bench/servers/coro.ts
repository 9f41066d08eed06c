/**
 * coro-ws speaking the benchmark protocol, on whichever runtime runs it: `/websocket` is the
 * seed's echo (two replies per message), `/broadcast` sends each message to every client.
 */

import process from "node:process";
import { type Response, Server } from "../../../mod.ts";

const server = new Server(process.env.HOST ?? "127.0.0.1", Number(process.env.PORT ?? 9502));

server.handle("/websocket", async (_request, ws) => {
  if (!await ws.upgrade()) return;
  while (true) {
    const frame = await ws.recv();
    if (frame === "" || frame === false) break;
    if (typeof frame.data !== "string") continue;
    await ws.push(`Hello ${frame.data}!`);
    await ws.push(`How are you, ${frame.data}?`);
  }
});

const listeners = new Set<Response>();
server.handle("/broadcast", async (_request, ws) => {
  if (!await ws.upgrade()) return;
  listeners.add(ws);
  try {
    for await (const frame of ws) {
      if (typeof frame.data !== "string") continue;
      const message = `Server：${frame.data}`;
      for (const listener of listeners) void listener.push(message);
    }
  } finally {
    listeners.delete(ws);
  }
});

server.handle("/", (_request, response) => response.end("coro-ws benchmark server\n"));

const stopped = server.start();
const { host, port } = await server.listening;
console.log(`listening on http://${host}:${port}`);
await stopped;
