/**
 * Presence on each store (MemoryPresenceStore, one real redis-server, a real Redis Cluster made
 * by this file): count without listing, list, join and leave events across two servers, and
 * the entries of a server process killed on the next runtime expiring, with their leave events.
 */

import assert from "node:assert/strict";
import process from "node:process";
import { test } from "node:test";
import {
  MemoryPresenceStore,
  Presence,
  type PresenceEvent,
  type PresenceStore,
} from "../../src/pubsub/presence.ts";
import { RedisPresenceStore } from "../../src/pubsub/redis.ts";
import { message, open, otherRuntime, runtime, startServer } from "../helpers.ts";
import { redisPair } from "../fixtures/redis_pair.ts";

const { redis, cluster, skip } = await redisPair();
const other = otherRuntime();
/** Topics unique to this run. */
const run = `${runtime}-${process.pid}`;

async function until(what: string, done: () => boolean | Promise<boolean>, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!await done()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const stores: [string, () => PresenceStore, string | false][] = [
  ["MemoryPresenceStore", () => new MemoryPresenceStore(), false],
  ["RedisPresenceStore on one Redis", () => new RedisPresenceStore({ url: redis!.url }), skip],
  [
    "RedisPresenceStore on a cluster",
    () => new RedisPresenceStore({ seeds: cluster!.seeds.split(",") }),
    skip,
  ],
];

for (const [name, make, skipped] of stores) {
  test(`[${runtime}] ${name}: count, list, and join and leave events across servers`, {
    skip: skipped,
  }, async () => {
    const store = make();
    const [a, b] = [new Presence(store), new Presence(store)]; // two servers
    const topic = `room-${run}-${name.length}`;
    try {
      const events: PresenceEvent[] = [];
      const stop = await b.watch(topic, (event) => events.push(event));
      const ada = await a.join(topic, '{"name":"ada"}');
      const bob = await b.join(topic, '{"name":"bob"}');
      assert.equal(await a.count(topic), 2);
      assert.deepEqual(
        (await b.list(topic)).map((member) => member.info).sort(),
        ['{"name":"ada"}', '{"name":"bob"}'],
      );
      await ada.leave();
      await ada.leave(); // twice: once
      assert.equal(await b.count(topic), 1);
      await until("three events", () => events.length === 3);
      assert.deepEqual(events, [
        { type: "join", id: ada.id, info: '{"name":"ada"}' },
        { type: "join", id: bob.id, info: '{"name":"bob"}' },
        { type: "leave", id: ada.id },
      ]);
      stop();
      await bob.leave();
      assert.equal(await a.count(topic), 0);
    } finally {
      await a.close();
      await b.close();
    }
  });
}

test(`[${runtime}] Presence: a killed ${other} server's entries expire, with leave events`, {
  skip,
}, async () => {
  const seeds = cluster!.seeds;
  const server = await startServer("fixtures/presence.ts", {
    REDIS_CLUSTER: seeds,
    PRESENCE_TTL_MS: "3000",
  }, other);
  const presence = new Presence(new RedisPresenceStore({ seeds: seeds.split(",") }), {
    ttlMs: 3000,
  });
  const topic = `room:crash-${run}`;
  try {
    const events: PresenceEvent[] = [];
    await presence.watch(topic, (event) => events.push(event));
    const here = await presence.join(topic, "here");
    const ghost = await open(`${server.wsUrl}/join?room=crash-${run}&name=ghost`);
    assert.equal(await message(ghost), "joined");
    await until("ghost joined", () => events.some((e) => e.type === "join" && e.info === "ghost"));
    // Alive, the server renews its entry (every third of the TTL): it outlives the TTL.
    await new Promise((resolve) => setTimeout(resolve, 3500));
    assert.deepEqual((await presence.list(topic)).map((m) => m.info).sort(), ["ghost", "here"]);

    server.kill(); // SIGKILL: no leave() runs.
    await server.exited;
    await until("the ghost's entry expires", async () => await presence.count(topic) === 1);
    assert.deepEqual((await presence.list(topic)).map((m) => m.info), ["here"]);
    const joined = events.find((e) => e.type === "join" && e.info === "ghost")!;
    await until(
      "its leave event",
      () => events.some((e) => e.type === "leave" && e.id === joined.id),
    );
    await here.leave();
  } finally {
    server.kill();
    await presence.close();
  }
});
