/**
 * A topic chat: `/chat?room=ROOM&name=NAME` joins a room, and each message goes to everyone in
 * it as "NAME: text". With `REDIS_URL` set (e.g. `redis://127.0.0.1:6379`), a room spans every
 * process and host that runs this script against the same Redis.
 *
 * Run: `node examples/chat.ts`, `deno run -A examples/chat.ts` or `bun examples/chat.ts`
 * (HOST, PORT and REDIS_URL from the environment, default 127.0.0.1:9502 and no Redis).
 */

import process from "node:process";
import { Server } from "../mod.ts";
import { RedisBroker } from "../src/pubsub/redis.ts";

const server = new Server(process.env.HOST ?? "127.0.0.1", Number(process.env.PORT ?? 9502));
if (process.env.REDIS_URL) server.useBroker(new RedisBroker({ url: process.env.REDIS_URL }));

server.handle("/chat", async (request, ws) => {
  if (!await ws.upgrade()) return;
  const room = `room:${request.get.room ?? "lobby"}`;
  const name = request.get.name ?? `guest${ws.fd}`;
  ws.subscribe(room);
  server.publish(room, `${name} joined`);
  for await (const frame of ws) server.publish(room, `${name}: ${frame.data}`);
  server.publish(room, `${name} left`);
});

// Ctrl-C (SIGINT) or SIGTERM: clients get 1001, handlers finish, the process exits 0.
server.shutdownOnSignals();
const stopped = server.start();
const { host, port } = await server.listening;
console.log(`listening on http://${host.includes(":") ? `[${host}]` : host}:${port}`);
await stopped;
