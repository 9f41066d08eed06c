/**
 * A chat that a reconnecting client resumes without loss: `/chat?room=ROOM&name=NAME` joins a
 * room, and `&since=POS` on a reconnect (POS: the last `pos` it got) first replays what it
 * missed. The first message is `{"recovered": true|false}` (false: the history no longer holds
 * everything after POS), then each room message as `{"pos": "...", "text": "NAME: ..."}`, the
 * client's own included.
 *
 * Run: `node examples/resume.ts`, `deno run -A examples/resume.ts` or `bun examples/resume.ts`.
 * Environment: HOST and PORT (default 127.0.0.1:9502); REDIS_URL for one Redis, REDIS_CLUSTER
 * (comma-separated `host:port` seeds) for a Redis Cluster, neither for this process only;
 * HISTORY_SIZE, the messages each room keeps (default 100).
 *
 * A page that resumes where it left off:
 *
 *     let since;
 *     function connect() {
 *       const url = `ws://${location.host}/chat?room=r&name=ada` +
 *         (since ? `&since=${encodeURIComponent(since)}` : "");
 *       const ws = new WebSocket(url);
 *       ws.onmessage = (event) => {
 *         const message = JSON.parse(event.data);
 *         if ("recovered" in message) {
 *           if (!message.recovered) console.log("missed some: reload the room");
 *         } else {
 *           since = message.pos;
 *           console.log(message.text);
 *         }
 *       };
 *       ws.onclose = () => setTimeout(connect, 1000);
 *     }
 *     connect();
 */

import process from "node:process";
import { Server } from "../mod.ts";
import { type HistoryStore, MemoryHistoryStore, TopicHistory } from "../src/pubsub/history.ts";
import { RedisHistoryStore } from "../src/pubsub/redis.ts";

const size = Number(process.env.HISTORY_SIZE ?? 100);
const store: HistoryStore = process.env.REDIS_CLUSTER
  ? new RedisHistoryStore({ seeds: process.env.REDIS_CLUSTER.split(","), size })
  : process.env.REDIS_URL
  ? new RedisHistoryStore({ url: process.env.REDIS_URL, size })
  : new MemoryHistoryStore({ size });
const history = new TopicHistory(store);

const server = new Server(process.env.HOST ?? "127.0.0.1", Number(process.env.PORT ?? 9502));
server.handle("/chat", async (request, ws) => {
  if (!await ws.upgrade()) return;
  const room = `room:${request.get.room ?? "lobby"}`;
  const name = request.get.name ?? `guest${ws.fd}`;
  const subscription = await history.subscribe(ws, room, {
    since: request.get.since,
    format: ({ pos, data }) => JSON.stringify({ pos, text: data }),
    onRecovered: (recovered) => ws.push(JSON.stringify({ recovered })),
  });
  try {
    for await (const frame of ws) await history.publish(room, `${name}: ${frame.data}`);
  } finally {
    subscription.close();
  }
});

// Ctrl-C (SIGINT) or SIGTERM: clients get 1001, handlers finish, the process exits 0.
server.shutdownOnSignals();
const stopped = server.start();
const { host, port } = await server.listening;
console.log(`listening on http://${host.includes(":") ? `[${host}]` : host}:${port}`);
await stopped;
await history.close();
