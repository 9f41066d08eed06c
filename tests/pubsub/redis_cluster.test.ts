/**
 * The Redis Cluster broker against a real cluster on loopback (3 primaries, 3 replicas, made
 * by this file): chat across a process of this runtime and one of the next, topics on every
 * shard through sharded pub/sub, and a primary killed, its replica promoted, delivery resumed.
 */

import assert from "node:assert/strict";
import process from "node:process";
import { after, test } from "node:test";
import { type Client, Server } from "../../mod.ts";
import { RedisClusterBroker } from "../../src/pubsub/redis.ts";
import {
  message,
  nextMatching,
  open,
  otherRuntime,
  runtime,
  type ServerProcess,
  startServer,
  untilCrossing,
} from "../helpers.ts";
import { RedisCluster, redisClusterMissing } from "../redis_server.ts";

if (redisClusterMissing) console.error(redisClusterMissing);
const skip = redisClusterMissing
  ? "redis-server or redis-cli is not installed (apt-get install -y redis-server redis-tools)"
  : false;

test(`[${runtime}] redis-server and redis-cli are installed where CI=true`, {
  skip: process.env.CI !== "true",
}, () => assert.equal(redisClusterMissing, undefined, redisClusterMissing));
const cluster = redisClusterMissing ? undefined : await RedisCluster.start();
after(() => cluster?.stop());
const other = otherRuntime();
/** Timings short enough that a failover is found and healed in a few seconds. */
const quick = {
  connectTimeoutMs: 2000,
  pingIntervalMs: 100,
  pingTimeoutMs: 1000,
  reconnectDelayMs: 20,
  maxReconnectDelayMs: 200,
};

/** `count` numbered messages from `sender`, and the numbers `receiver` got, in arrival order. */
async function exchange(sender: Client, name: string, receiver: Client, count: number) {
  for (let i = 1; i <= count; i++) await sender.push(`seq ${i}`);
  const got: number[] = [];
  const pattern = new RegExp(`^${name}: seq (\\d+)$`);
  while (got.length < count) {
    got.push(Number(pattern.exec(await nextMatching(receiver, pattern))![1]));
  }
  return got;
}

/** One room per primary: names whose channel's slot each primary serves. */
function roomPerShard(): Map<number, string> {
  const rooms = new Map<number, string>();
  for (let i = 0; rooms.size < cluster!.primaries().length; i++) {
    const primary = cluster!.primaryOf(`coro-ws:#topic:room:r${i}`);
    if (!rooms.has(primary)) rooms.set(primary, `r${i}`);
  }
  return rooms;
}

async function pair(): Promise<[ServerProcess, ServerProcess]> {
  const env = { REDIS_CLUSTER: cluster!.seeds };
  return await Promise.all([
    startServer("fixtures/cluster_chat.ts", env),
    startServer("fixtures/cluster_chat.ts", env, other),
  ]);
}

async function join(server: ServerProcess, name: string, room: string): Promise<Client> {
  const client = await open(`${server.wsUrl}/chat?room=${room}&name=${name}`);
  assert.equal(await message(client), `${name} joined`);
  return client;
}

const inOrder = (count: number) => Array.from({ length: count }, (_, i) => i + 1);

test(
  `[${runtime}] RedisClusterBroker: rooms on every shard cross ${runtime} and ${other}, in order`,
  {
    skip,
  },
  async () => {
    const [a, b] = await pair();
    try {
      const rooms = roomPerShard();
      assert.equal(rooms.size, 3, "a room on each of the three primaries");
      for (const [primary, room] of rooms) {
        const alice = await join(a, "alice", room);
        const bob = await join(b, "bob", room);
        await untilCrossing(alice, bob, "alice", 10_000);
        await untilCrossing(bob, alice, "bob", 10_000);
        // Sharded pub/sub: the shard that owns the channel has both servers on it.
        const channel = `coro-ws:#topic:room:${room}`;
        assert.match(cluster!.cli(primary, "pubsub", "shardnumsub", channel), /\n2\n?$/);
        assert.deepEqual(
          await exchange(alice, "alice", bob, 100),
          inOrder(100),
          `${runtime} → ${other}`,
        );
        assert.deepEqual(
          await exchange(bob, "bob", alice, 100),
          inOrder(100),
          `${other} → ${runtime}`,
        );
        await alice.disconnect(1000);
        await bob.disconnect(1000);
        // Interest only: the last connection gone, each server leaves the shard's channel.
        const deadline = Date.now() + 10_000;
        while (!/\n0\n?$/.test(cluster!.cli(primary, "pubsub", "shardnumsub", channel))) {
          assert.ok(Date.now() < deadline, `${channel} still has subscribers`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    } finally {
      a.kill();
      b.kill();
    }
  },
);

test(`[${runtime}] RedisClusterBroker: a primary killed, its replica promoted, delivery resumes`, {
  skip,
}, async () => {
  const [a, b] = await pair();
  try {
    const rooms = roomPerShard();
    const [victim, room] = [...rooms][0];
    const [, survivor] = [...rooms][1];
    const clients = {
      alice: await join(a, "alice", room),
      bob: await join(b, "bob", room),
      carol: await join(a, "carol", survivor),
      dave: await join(b, "dave", survivor),
    };
    await untilCrossing(clients.alice, clients.bob, "alice", 10_000);
    await untilCrossing(clients.carol, clients.dave, "carol", 10_000);

    // In this process too, a server whose broker_up metric follows the outage.
    const local = new Server("127.0.0.1", 0);
    local.useBroker(new RedisClusterBroker({ seeds: cluster!.seeds.split(","), ...quick }));
    local.useLogger({ error: () => {}, warn: () => {}, info: () => {} });
    void local.start();
    await local.listening;
    const seen = new Set<number | undefined>();
    const watching = setInterval(() => seen.add(local.metrics().broker_up), 10);

    await cluster!.kill(victim);
    assert.notEqual(
      cluster!.primaryOf(`coro-ws:#topic:room:${room}`),
      victim,
      "a replica took over",
    );
    await untilCrossing(clients.alice, clients.bob, "alice", 30_000);
    await untilCrossing(clients.bob, clients.alice, "bob", 30_000);
    assert.deepEqual(await exchange(clients.alice, "alice", clients.bob, 50), inOrder(50));
    assert.deepEqual(await exchange(clients.bob, "bob", clients.alice, 50), inOrder(50));
    // The other shard's room was never cut off.
    assert.deepEqual(await exchange(clients.carol, "carol", clients.dave, 50), inOrder(50));
    const deadline = Date.now() + 30_000;
    while (local.metrics().broker_up !== 1) {
      assert.ok(Date.now() < deadline, "broker_up is back to 1 after the failover");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    clearInterval(watching);
    assert.ok(seen.has(0), `broker_up was 0 during the outage: ${[...seen]}`);
    await local.shutdown();
    for (const server of [a, b]) {
      const reports = server.output().match(/is unreachable/g) ?? [];
      assert.equal(reports.length, 1, `the outage, reported once:\n${server.output()}`);
    }
    for (const client of Object.values(clients)) await client.disconnect(1000);
  } finally {
    a.kill();
    b.kill();
  }
});

test(`[${runtime}] new RedisClusterBroker() refuses no seeds and a bad timing`, () => {
  assert.throws(() => new RedisClusterBroker({ seeds: [] }), TypeError);
  assert.throws(() => new RedisClusterBroker({ pingIntervalMs: 0 }), RangeError);
});
