/**
 * Topic history and recovery (TopicHistory) on each store: MemoryHistoryStore, one real
 * redis-server, and a real Redis Cluster made by this file. Then examples/resume.ts on this
 * runtime and the next, through the cluster: a client that reconnects to the other server
 * with `since` gets what it missed, in order, once.
 */

import assert from "node:assert/strict";
import process from "node:process";
import { test } from "node:test";
import { createClient } from "redis";
import type { Client } from "../../mod.ts";
import {
  type HistoryOptions,
  type HistoryStore,
  MemoryHistoryStore,
  TopicHistory,
} from "../../src/pubsub/history.ts";
import { RedisHistoryStore } from "../../src/pubsub/redis.ts";
import { message, open, otherRuntime, runtime, startServer } from "../helpers.ts";
import { redisPair } from "../fixtures/redis_pair.ts";

const { redis, cluster, skip } = await redisPair();
const other = otherRuntime();
/** Topics unique to this run, so that the three runtimes' runs never share a history. */
const run = `${runtime}-${process.pid}`;

/** The stores under test, each made with `size`; the Redis ones skip without redis-server. */
const stores: [string, (options: HistoryOptions) => HistoryStore, string | false][] = [
  ["MemoryHistoryStore", (options) => new MemoryHistoryStore(options), false],
  [
    "RedisHistoryStore on one Redis",
    (options) => new RedisHistoryStore({ url: redis!.url, ...options }),
    skip,
  ],
  [
    "RedisHistoryStore on a cluster",
    (options) => new RedisHistoryStore({ seeds: cluster!.seeds.split(","), ...options }),
    skip,
  ],
];

/** What a subscriber was sent, each entry as `POS DATA`, and `recovered` when it was told. */
function recorder() {
  const got: string[] = [];
  return {
    got,
    to: { push: (data: string) => got.push(data) },
    format: ({ pos, data }: { pos: string; data: string }) => `${pos} ${data}`,
    onRecovered: (recovered: boolean) => got.push(`recovered ${recovered}`),
  };
}

async function until(what: string, done: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The data of each entry `got` holds, and whether their positions only grow. */
function dataOf(got: string[]): string[] {
  return got.filter((line) => !line.startsWith("recovered")).map((line) => line.split(" ")[1]);
}

for (const [name, make, skipped] of stores) {
  test(`[${runtime}] ${name}: since replays what was missed, in order and once, then live`, {
    skip: skipped,
  }, async () => {
    const store = make({ size: 100 });
    const [a, b] = [new TopicHistory(store), new TopicHistory(store)]; // two servers
    const topic = `replay-${run}-${name.length}`;
    try {
      const positions: string[] = [];
      for (let i = 1; i <= 10; i++) positions.push(await a.publish(topic, `m${i}`));
      // Publishes go on while the subscriber is caught up: none lost, none twice.
      const publishing = (async () => {
        for (let i = 11; i <= 60; i++) await a.publish(topic, `m${i}`);
      })();
      const seen = recorder();
      const subscription = await b.subscribe(seen.to, topic, { since: positions[3], ...seen });
      assert.equal(subscription.recovered, true);
      await publishing;
      await until("m60 arrives", () => seen.got.at(-1)?.endsWith(" m60") ?? false);
      assert.equal(seen.got[0], "recovered true", "told first");
      const expected = Array.from({ length: 56 }, (_, i) => `m${i + 5}`);
      assert.deepEqual(dataOf(seen.got), expected);
      // A subscriber without since gets only what comes next, on the other server too.
      const fresh = recorder();
      const live = await a.subscribe(fresh.to, topic, fresh);
      const last = await b.publish(topic, "m61");
      await until("m61 arrives", () => fresh.got.length === 2 && seen.got.length === 58);
      assert.deepEqual(fresh.got, ["recovered true", `${last} m61`]);
      subscription.close();
      live.close();
    } finally {
      await a.close();
      await b.close();
    }
  });

  test(`[${runtime}] ${name}: recovered is false once the cap has dropped what was missed`, {
    skip: skipped,
  }, async () => {
    const store = make({ size: 5 });
    const history = new TopicHistory(store);
    const topic = `cap-${run}-${name.length}`;
    try {
      const positions: string[] = [];
      for (let i = 1; i <= 10; i++) positions.push(await history.publish(topic, `m${i}`));
      const gone = recorder();
      const refused = await history.subscribe(gone.to, topic, { since: positions[1], ...gone });
      assert.equal(refused.recovered, false, "m3 to m5 are gone");
      const kept = recorder();
      const whole = await history.subscribe(kept.to, topic, { since: positions[4], ...kept });
      assert.equal(whole.recovered, true, "m6 to m10 are all kept");
      assert.deepEqual(dataOf(kept.got), ["m6", "m7", "m8", "m9", "m10"]);
      const junk = recorder();
      const foreign = await history.subscribe(junk.to, topic, { since: "other:1-1", ...junk });
      assert.equal(foreign.recovered, false, "another epoch's position");
      // Refused, they still get what comes next.
      await history.publish(topic, "m11");
      await until("m11 arrives", () => gone.got.length === 2 && junk.got.length === 2);
      assert.deepEqual(dataOf(gone.got), ["m11"]);
      assert.deepEqual(gone.got[0], "recovered false");
      for (const subscription of [refused, whole, foreign]) subscription.close();
    } finally {
      await history.close();
    }
  });
}

// The trimming is the same script on a cluster: one Redis and memory show it.
for (const [name, make, skipped] of stores.slice(0, 2)) {
  test(`[${runtime}] ${name}: recovered is false once maxAgeMs has dropped what was missed`, {
    skip: skipped,
  }, async () => {
    const history = new TopicHistory(make({ size: 100, maxAgeMs: 1000 }));
    const topic = `age-${run}-${name.length}`;
    try {
      const first = await history.publish(topic, "m1");
      const second = await history.publish(topic, "m2");
      // Older than maxAgeMs: gone, though well within the size.
      await new Promise((resolve) => setTimeout(resolve, 1200));
      const third = await history.publish(topic, "m3");
      const gone = recorder();
      const refused = await history.subscribe(gone.to, topic, { since: first, ...gone });
      assert.equal(refused.recovered, false, "m2 has expired");
      const kept = recorder();
      const whole = await history.subscribe(kept.to, topic, { since: second, ...kept });
      assert.equal(whole.recovered, true, "m3 has not");
      assert.deepEqual(kept.got, ["recovered true", `${third} m3`]);
      refused.close();
      whole.close();
    } finally {
      await history.close();
    }
  });
}

test(`[${runtime}] RedisHistoryStore: a history Redis lost is not recovered (a new epoch)`, {
  skip,
}, async () => {
  const history = new TopicHistory(new RedisHistoryStore({ url: redis!.url }));
  const admin = createClient({ url: redis!.url });
  await admin.connect();
  const topic = `lost-${run}`;
  try {
    const before = await history.publish(topic, "m1");
    await admin.flushAll();
    const after = await history.publish(topic, "m2");
    assert.notEqual(before.split(":")[0], after.split(":")[0], "a new epoch");
    const seen = recorder();
    const subscription = await history.subscribe(seen.to, topic, { since: before, ...seen });
    assert.equal(subscription.recovered, false);
    subscription.close();
  } finally {
    await admin.close();
    await history.close();
  }
});

test(`[${runtime}] RedisHistoryStore: after a failover, positions from before are not recovered`, {
  skip,
}, async () => {
  const history = new TopicHistory(
    new RedisHistoryStore({
      seeds: cluster!.seeds.split(","),
      pingIntervalMs: 100,
      pingTimeoutMs: 1000,
      reconnectDelayMs: 20,
      onError: () => {},
    }),
  );
  const topic = `failover-${run}`;
  try {
    const before = await history.publish(topic, "m1");
    // The promoted replica may lack the last appends: ids from before could be given again.
    await cluster!.kill(cluster!.primaryOf(`coro-ws:{history:${topic}}`));
    const deadline = Date.now() + 30_000;
    let after: string | undefined;
    while (!after) {
      after = await history.publish(topic, "m2").catch((error) => {
        assert.ok(Date.now() < deadline, `no publish after the failover: ${error}`);
        return new Promise<undefined>((resolve) => setTimeout(resolve, 50));
      });
    }
    assert.notEqual(after.split(":")[0], before.split(":")[0], "a new epoch");
    const old = recorder();
    const refused = await history.subscribe(old.to, topic, { since: before, ...old });
    assert.equal(refused.recovered, false);
    const third = await history.publish(topic, "m3");
    await until("m3 arrives", () => old.got.at(-1) === `${third} m3`);
    const fresh = recorder();
    const whole = await history.subscribe(fresh.to, topic, { since: after, ...fresh });
    assert.equal(whole.recovered, true, "positions of the new epoch are");
    assert.deepEqual(dataOf(fresh.got), ["m3"]);
    refused.close();
    whole.close();
  } finally {
    await history.close();
  }
});

/** The next message `client` gets, parsed. */
async function next(client: Client): Promise<{ recovered?: boolean; pos?: string; text?: string }> {
  return JSON.parse(String(await message(client)));
}

test(
  `[${runtime}] examples/resume.ts resumes a client that moves from ${runtime} to ${other}, through a cluster`,
  {
    skip,
  },
  async () => {
    const env = { REDIS_CLUSTER: cluster!.seeds, HISTORY_SIZE: "20" };
    const [a, b] = await Promise.all([
      startServer("../examples/resume.ts", env),
      startServer("../examples/resume.ts", env, other),
    ]);
    const room = `resume-${run}`;
    try {
      const ada = await open(`${a.wsUrl}/chat?room=${room}&name=ada`);
      const bob = await open(`${b.wsUrl}/chat?room=${room}&name=bob`);
      assert.deepEqual(await next(ada), { recovered: true });
      assert.deepEqual(await next(bob), { recovered: true });
      await ada.push("one");
      const one = await next(bob);
      assert.equal(one.text, "ada: one");
      assert.deepEqual(await next(ada), one, "a client's own messages come back to it");
      await bob.disconnect(1000);
      for (const text of ["two", "three", "four"]) await ada.push(text);
      for (const text of ["two", "three", "four"]) {
        assert.equal(
          (await next(ada)).text,
          `ada: ${text}`,
        );
      }
      // bob comes back on the other server, from the last position he saw.
      const back = await open(
        `${a.wsUrl}/chat?room=${room}&name=bob&since=${encodeURIComponent(one.pos!)}`,
      );
      assert.deepEqual(await next(back), { recovered: true });
      for (const text of ["two", "three", "four"]) {
        assert.equal(
          (await next(back)).text,
          `ada: ${text}`,
        );
      }
      await back.push("back");
      assert.equal((await next(back)).text, "bob: back", "live after the replay, nothing twice");
      assert.equal((await next(ada)).text, "bob: back");
      // 20 more: the room's history no longer reaches back to "one".
      for (let i = 0; i < 20; i++) await ada.push(`more ${i}`);
      for (let i = 0; i < 20; i++) await next(ada);
      const late = await open(
        `${b.wsUrl}/chat?room=${room}&name=late&since=${encodeURIComponent(one.pos!)}`,
      );
      assert.deepEqual(await next(late), { recovered: false });
      for (const client of [ada, back, late]) await client.disconnect(1000);
    } finally {
      a.kill();
      b.kill();
    }
  },
);

test(`[${runtime}] examples/resume.ts without Redis keeps the room in the process`, async () => {
  const server = await startServer("../examples/resume.ts", { HISTORY_SIZE: "2" });
  try {
    const ada = await open(`${server.wsUrl}/chat?room=r&name=ada`);
    assert.deepEqual(await next(ada), { recovered: true });
    await ada.push("hi");
    const hi = await next(ada);
    assert.equal(hi.text, "ada: hi");
    await ada.push("again");
    await next(ada);
    const back = await open(
      `${server.wsUrl}/chat?room=r&name=bob&since=${encodeURIComponent(hi.pos!)}`,
    );
    assert.deepEqual(await next(back), { recovered: true });
    assert.equal((await next(back)).text, "ada: again");
    for (const client of [ada, back]) await client.disconnect(1000);
  } finally {
    server.kill();
  }
});
