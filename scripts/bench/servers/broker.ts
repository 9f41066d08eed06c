/**
 * coro-ws joined to other server processes through Redis, for the harness's "broker" workload:
 * `/spread` subscribes each connection to one of the topics in TOPICS (comma separated, taken
 * in turn) and publishes each text message it gets to every one of them, so each subscriber on
 * any process gets each message once, and the topics can sit on different shards of a cluster.
 *
 * BROKER picks the way across processes: `redis` (RedisBroker on REDIS_URL), `cluster`
 * (RedisClusterBroker on the REDIS_CLUSTER seeds, sharded pub/sub) or `history` (TopicHistory on
 * a RedisHistoryStore on REDIS_URL keeping HISTORY_SIZE messages per topic, default 100: each
 * publish is an append to a capped stream, delivered by the store).
 */

import process from "node:process";
import { Server } from "../../../mod.ts";
import { RedisBroker, RedisClusterBroker, RedisHistoryStore } from "../../../src/pubsub/redis.ts";
import { TopicHistory } from "../../../src/pubsub/history.ts";

const mode = process.env.BROKER ?? "redis";
const topics = (process.env.TOPICS ?? "spread:0").split(",");
const server = new Server(process.env.HOST ?? "127.0.0.1", Number(process.env.PORT ?? 9502));
let history: TopicHistory | undefined;

if (mode === "redis") {
  server.useBroker(new RedisBroker({ url: process.env.REDIS_URL }));
} else if (mode === "cluster") {
  server.useBroker(new RedisClusterBroker({ seeds: process.env.REDIS_CLUSTER!.split(",") }));
} else if (mode === "history") {
  const size = Number(process.env.HISTORY_SIZE ?? 100);
  history = new TopicHistory(new RedisHistoryStore({ url: process.env.REDIS_URL, size }));
} else {
  throw new Error(`BROKER must be redis, cluster or history, not ${mode}`);
}

let next = 0;
server.handle("/spread", async (_request, ws) => {
  if (!await ws.upgrade()) return;
  const topic = topics[next++ % topics.length];
  const subscription = history
    ? await history.subscribe(ws, topic, { format: (entry) => entry.data })
    : undefined;
  if (!history) ws.subscribe(topic);
  try {
    for await (const frame of ws) {
      if (typeof frame.data !== "string") continue;
      const message = `Server：${frame.data}`;
      if (!history) {
        for (const to of topics) server.publish(to, message);
        continue;
      }
      // Not awaited, like server.publish(): the appends queue on one connection, in order.
      for (const to of topics) {
        history.publish(to, message).catch((error) => console.error(`publish failed: ${error}`));
      }
    }
  } finally {
    subscription?.close();
  }
});

server.handle("/", (_request, response) => response.end("coro-ws broker benchmark server\n"));

const stopped = server.start();
const { host, port } = await server.listening;
console.log(`listening on http://${host}:${port}`);
await stopped;
await history?.close();
