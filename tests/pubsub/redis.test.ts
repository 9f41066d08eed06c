/**
 * The Redis broker against a real redis-server on loopback: chat and broadcast across two
 * processes on two runtimes, per-publisher order, a Redis crash and restart, and the
 * subscriptions a server keeps on Redis.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient } from "redis";
import { type Client, OPCODE, Server } from "../../mod.ts";
import type { BrokerLink, BrokerMessage } from "../../src/pubsub/broker.ts";
import { RedisBroker } from "../../src/pubsub/redis.ts";
import {
  assertQuiet,
  message,
  nextMatching,
  open,
  otherRuntime,
  runtime,
  type ServerProcess,
  skipWithoutService,
  startServer,
  untilCrossing,
  within,
} from "../helpers.ts";
import { redisMissing, RedisServer, TcpProxy } from "../redis_server.ts";

const skip = skipWithoutService(
  redisMissing,
  "redis-server is not installed (apt-get install -y redis-server)",
);
const redis = redisMissing ? undefined : await RedisServer.start();
const other = otherRuntime();
/**
 * Timings short enough that a stall is found and healed in well under a second; a connect
 * gets longer, since one to a live Redis took over 500 ms with the test files running beside.
 */
const quick = {
  connectTimeoutMs: 2_000,
  pingIntervalMs: 100,
  pingTimeoutMs: 500,
  reconnectDelayMs: 20,
  maxReconnectDelayMs: 200,
};

/** Starts examples/chat.ts on this runtime and on the other one, both on the test's Redis. */
async function chatPair(): Promise<[ServerProcess, ServerProcess]> {
  const env = { REDIS_URL: redis!.url };
  return await Promise.all([
    startServer("../examples/chat.ts", env),
    startServer("../examples/chat.ts", env, other),
  ]);
}

function join(server: ServerProcess, name: string, room = "r"): Promise<Client> {
  return open(`${server.wsUrl}/chat?room=${room}&name=${name}`);
}

/** `count` numbered messages from each sender, interleaved, then what `receiver` got of them. */
async function exchange(senders: [Client, string][], receiver: Client, count: number) {
  for (let i = 1; i <= count; i++) for (const [sender] of senders) await sender.push(`seq ${i}`);
  const got = new Map<string, number[]>(senders.map(([, name]) => [name, []]));
  for (let i = 0; i < count * senders.length; i++) {
    const [name, seq] = (await nextMatching(receiver, /: seq \d+$/)).split(": seq ");
    got.get(name)!.push(Number(seq));
  }
  return got;
}

test(
  `[${runtime}] RedisBroker: chat crosses ${runtime} and ${other} processes, in order per publisher`,
  {
    skip,
  },
  async () => {
    const [a, b] = await chatPair();
    try {
      const bob = await join(b, "bob");
      const alice = await join(a, "alice");
      const carol = await join(b, "carol");
      await untilCrossing(alice, bob, "alice", 5000);
      await untilCrossing(carol, alice, "carol", 5000);
      const got = await exchange([[alice, "alice"], [carol, "carol"]], bob, 200);
      const inOrder = Array.from({ length: 200 }, (_, i) => i + 1);
      assert.deepEqual(got.get("alice"), inOrder, `${runtime} → ${other}`);
      assert.deepEqual(got.get("carol"), inOrder, `${other}, local`);
      const dave = await join(a, "dave", "other-room");
      assert.equal(await message(dave), "dave joined");
      await alice.push("not for dave");
      assert.equal(await nextMatching(bob, /not for dave/), "alice: not for dave");
      await assertQuiet(dave, 0.3, "room r's message reached other-room");
      for (const client of [alice, bob, carol, dave]) await client.disconnect(1000);
    } finally {
      a.kill();
      b.kill();
    }
  },
);

test(`[${runtime}] RedisBroker: the seed broadcast example reaches ${other}'s clients`, {
  skip,
}, async () => {
  const env = { REDIS_URL: redis!.url };
  const [a, b] = await Promise.all([
    startServer("../examples/broadcast.ts", env),
    startServer("../examples/broadcast.ts", env, other),
  ]);
  try {
    const onA = await open(`${a.wsUrl}/websocket`);
    const onB = await open(`${b.wsUrl}/websocket`);
    await onA.push("hi");
    assert.equal(await message(onA), "Server：hi");
    assert.equal(await message(onB), "Server：hi");
    await onB.push("back");
    assert.equal(await message(onA), "Server：back");
    assert.equal(await message(onB), "Server：back");
    await onA.disconnect(1000);
    await onB.disconnect(1000);
  } finally {
    a.kill();
    b.kill();
  }
});

test(`[${runtime}] RedisBroker: a Redis crash keeps local delivery, is reported, and heals`, {
  skip,
}, async () => {
  const [a, b] = await chatPair();
  try {
    const alice = await join(a, "alice");
    const erin = await join(a, "erin");
    const bob = await join(b, "bob");
    await untilCrossing(alice, bob, "alice", 5000);

    await redis!.kill();
    await alice.push("during the outage");
    assert.equal(await nextMatching(erin, /outage/), "alice: during the outage");
    const deadline = Date.now() + 5000;
    while (!/Redis at .* is unreachable/.test(a.output())) {
      assert.ok(Date.now() < deadline, `no outage reported:\n${a.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const late = await join(b, "late");
    assert.equal(await message(late), "late joined", `${other} still serves`);

    await redis!.restart();
    await untilCrossing(alice, bob, "alice", 20_000);
    const got = await exchange([[alice, "alice"]], bob, 50);
    assert.deepEqual(got.get("alice"), Array.from({ length: 50 }, (_, i) => i + 1));
    for (const client of [alice, erin, bob, late]) await client.disconnect(1000);
  } finally {
    a.kill();
    b.kill();
  }
});

test(`[${runtime}] RedisBroker: a server keeps one Redis subscription per topic it serves`, {
  skip,
}, async () => {
  const watcher = createClient({ url: redis!.url });
  await watcher.connect();
  const subscribers = async (topic: string) =>
    (await watcher.pubSubNumSub(`coro-ws:#topic:${topic}`))[`coro-ws:#topic:${topic}`];
  const servers = [new Server("127.0.0.1", 0), new Server("127.0.0.1", 0)];
  try {
    for (const server of servers) {
      server.useBroker(new RedisBroker({ url: redis!.url }));
      server.handle("/ws", async (request, ws) => {
        if (!await ws.upgrade()) return;
        ws.subscribe(request.get.topic);
        await ws.push("ok");
        for await (const _frame of ws);
      });
      void server.start();
    }
    const [a, b] = await Promise.all(servers.map((server) => server.listening));
    const first = await open(`ws://127.0.0.1:${b.port}/ws?topic=bin`);
    const second = await open(`ws://127.0.0.1:${b.port}/ws?topic=bin`);
    assert.equal(await message(first), "ok");
    assert.equal(await message(second), "ok");
    await waitFor(async () => await subscribers("bin") === 1, "one subscription for two clients");
    assert.equal(servers[0].publish("bin", "bytes", OPCODE.BINARY), 0, "none local on a");
    for (const client of [first, second]) {
      assert.deepEqual(await message(client), new TextEncoder().encode("bytes"));
    }
    await first.disconnect(1000);
    await second.disconnect(1000);
    await waitFor(async () => await subscribers("bin") === 0, "unsubscribed after the last left");
    assert.ok(a.port > 0);
  } finally {
    await Promise.all(servers.map((server) => server.shutdown()));
    await watcher.close();
  }
});

test(`[${runtime}] RedisBroker: a stalled Redis bounds the publish queue and counts every drop`, {
  skip,
}, async () => {
  const errors: string[] = [];
  const server = new Server("127.0.0.1", 0);
  server.useBroker(new RedisBroker({ url: redis!.url, onError: (e) => errors.push(e.message) }));
  server.handle("/ws", async (_request, ws) => {
    if (!await ws.upgrade()) return;
    ws.subscribe("t");
    await ws.push("ok");
    for await (const _frame of ws);
  });
  void server.start();
  const { port } = await server.listening;
  const pauser = createClient({ url: redis!.url });
  await pauser.connect();
  try {
    const local = await open(`ws://127.0.0.1:${port}/ws`);
    assert.equal(await message(local), "ok");
    await pauser.sendCommand(["CLIENT", "PAUSE", "1000", "ALL"]);
    // More than the 10,000 publishes the broker lets wait for Redis.
    for (let i = 0; i < 15_000; i++) server.publish("t", "x");
    await waitFor(() => Promise.resolve(errors.length > 0), "a report of dropped publishes");
    assert.equal(errors.length, 1, errors.join("\n"));
    assert.match(errors[0], /^Cannot publish \d+ message\(s\) to topic "t" on Redis/);
    // The drops after the first report come in one more report, a second later.
    await waitFor(() => Promise.resolve(dropped(errors) === 5_000), "5,000 drops reported");
    assert.equal(errors.length, 2, errors.join("\n"));
    let received = 0;
    while (received < 15_000) {
      assert.equal(await message(local), "x", "local delivery goes on");
      received++;
    }
    await local.disconnect(1000);
  } finally {
    await server.shutdown();
    await pauser.close();
  }
});

test(`[${runtime}] RedisBroker: start() rejects when Redis is unreachable, without the password`, {
  skip,
}, async () => {
  const server = new Server("127.0.0.1", 0);
  server.useBroker(new RedisBroker({ url: "redis://user:hunter2@127.0.0.1:1" }));
  await assert.rejects(server.start(), (error: Error) => {
    assert.match(error.message, /^Cannot connect to Redis at redis:\/\/user:\*\*\*@127\.0\.0\.1:1/);
    assert.doesNotMatch(error.message, /hunter2/);
    return true;
  });
});

test(`[${runtime}] RedisBroker: a slow Redis bounds the bytes of waiting publishes too`, {
  skip,
}, async () => {
  const errors: string[] = [];
  const watcher = createClient({ url: redis!.url });
  await watcher.connect();
  let received = 0;
  await watcher.pSubscribe("bytes:*", () => received++, true);
  const link = await new RedisBroker({
    url: redis!.url,
    prefix: "bytes:",
    onError: (e) => errors.push(e.message),
  }).connect(() => {});
  const pauser = createClient({ url: redis!.url });
  await pauser.connect();
  try {
    await pauser.sendCommand(["CLIENT", "PAUSE", "1000", "ALL"]);
    // 1,000 × 64 KiB: far below the 10,000 publishes allowed, far above the bytes allowed.
    const sent = 1_000;
    const data = new Uint8Array(64 * 1024);
    for (let i = 0; i < sent; i++) link.publish({ topic: "big", data });
    await waitFor(
      () => Promise.resolve(received + dropped(errors) === sent),
      "every publish arrives or is reported dropped",
      10_000,
    );
    assert.ok(received * data.byteLength <= 32 * 1024 * 1024, `${received} waited for Redis`);
    assert.ok(errors.length <= 3, errors.join("\n"));
    for (const error of errors) {
      assert.match(error, /^Cannot publish \d+ message\(s\) to topic "big"/);
    }
  } finally {
    await link.close();
    await pauser.close();
    await watcher.close();
  }
});

test(`[${runtime}] RedisBroker: start() gives up on an endpoint that never speaks Redis`, {
  skip,
}, async () => {
  const silent = await TcpProxy.start(redis!.port);
  silent.silence();
  const server = new Server("127.0.0.1", 0);
  server.useBroker(
    new RedisBroker({
      ...quick,
      connectTimeoutMs: 500,
      url: `redis://user:hunter2@127.0.0.1:${silent.port}`,
    }),
  );
  try {
    await assert.rejects(within(server.start(), 8_000, "start()"), (error: Error) => {
      assert.match(
        error.message,
        new RegExp(
          `^Cannot connect to Redis at redis://user:\\*\\*\\*@127\\.0\\.0\\.1:${silent.port}.* within 500 ms`,
        ),
      );
      assert.doesNotMatch(error.message, /hunter2/);
      return true;
    });
  } finally {
    await silent.close();
  }
});

/**
 * A link with quick timings through a proxy to the test's Redis, what it reported and received,
 * and a sender straight to Redis on the same prefix.
 */
async function proxiedLink(prefix: string) {
  const proxy = await TcpProxy.start(redis!.port);
  const errors: string[] = [];
  const got: BrokerMessage[] = [];
  const link = await new RedisBroker({
    ...quick,
    url: proxy.url,
    prefix,
    onError: (e) => errors.push(e.message),
  }).connect((message) => got.push(message));
  const sender = await new RedisBroker({ url: redis!.url, prefix }).connect(() => {});
  const reported = (pattern: RegExp, what: string) =>
    waitFor(() => Promise.resolve(errors.some((e) => pattern.test(e))), what, 10_000);
  const close = async () => {
    await Promise.all([link.close(), sender.close()]);
    await proxy.close();
  };
  return { proxy, errors, got, link, sender, reported, close };
}

test(`[${runtime}] RedisBroker: a stalled link to Redis is found, reported and replaced`, {
  skip,
}, async () => {
  const { proxy, got, link, sender, reported, close } = await proxiedLink("stall:");
  try {
    link.subscribe("t");
    await untilDelivered(sender, got, "t", 5000);
    proxy.stall();
    await reported(/unreachable/, "the stall reported");
    await untilDelivered(sender, got, "t", 10_000);
  } finally {
    await close();
  }
});

test(`[${runtime}] RedisBroker: (un)subscribes lost to a stall are made good after it`, {
  skip,
}, async () => {
  const { proxy, got, link, sender, reported, close } = await proxiedLink("resync:");
  const watcher = createClient({ url: redis!.url });
  await watcher.connect();
  const subscribers = async (topic: string) =>
    (await watcher.pubSubNumSub(`resync:#topic:${topic}`))[`resync:#topic:${topic}`];
  try {
    link.subscribe("left");
    await untilDelivered(sender, got, "left", 5000);
    proxy.stall();
    // Both reach the stalled connection and die with it, unanswered.
    link.subscribe("joined");
    link.unsubscribe("left");
    await reported(/unreachable/, "the stall reported");
    await untilDelivered(sender, got, "joined", 10_000);
    await waitFor(async () => await subscribers("left") === 0, "unsubscribed from left", 10_000);
    assert.equal(await subscribers("joined"), 1);
    assert.equal(link.up, true);
  } finally {
    await close();
    await watcher.close();
  }
});

test(`[${runtime}] RedisBroker: a corrupt reply is found by its missing PONG, reported, replaced`, {
  skip,
}, async () => {
  const { proxy, got, link, sender, reported, close } = await proxiedLink("corrupt:");
  // Keeps the subscriber's connection busy, so only a missing PONG can tell it is lost.
  const traffic = setInterval(() => sender.publish({ topic: "busy", data: "x" }), 5);
  try {
    link.subscribe("t");
    link.subscribe("busy");
    await untilDelivered(sender, got, "t", 5000);
    proxy.corrupt();
    await reported(/unreachable/, "the corrupt link reported");
    await waitFor(() => Promise.resolve(link.up === true), "up again", 10_000);
    await untilDelivered(sender, got, "t", 10_000);
  } finally {
    clearInterval(traffic);
    await close();
  }
});

test(`[${runtime}] RedisBroker: a topic from a query cannot forge a log line`, {
  skip,
}, async () => {
  const proxy = await TcpProxy.start(redis!.port);
  const logged: string[] = [];
  const log = (message: string) => logged.push(message);
  const server = new Server("127.0.0.1", 0);
  server.useLogger({ error: log, warn: log, info: log });
  // Long enough for the subscribe below to reach the stalled link before the stall is found.
  server.useBroker(new RedisBroker({ ...quick, pingTimeoutMs: 2_000, url: proxy.url }));
  server.handle("/chat", async (request, ws) => {
    if (!await ws.upgrade()) return;
    ws.subscribe(`room:${request.get.room}`); // The README's pattern.
    await ws.push("joined");
    for await (const _frame of ws);
  });
  void server.start();
  const { port } = await server.listening;
  try {
    proxy.stall();
    const forged = 'x\ncoro-ws: forged \u2028\u001b[2J"';
    const client = await open(`ws://127.0.0.1:${port}/chat?room=${encodeURIComponent(forged)}`);
    assert.equal(await message(client), "joined");
    await waitFor(
      () => Promise.resolve(logged.some((line) => /Cannot subscribe/.test(line))),
      "the failed subscribe reported",
      10_000,
    );
    for (const line of logged) {
      // deno-lint-ignore no-control-regex -- Control characters are what it finds.
      assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/, "a raw control");
    }
    const report = logged.find((line) => /Cannot subscribe/.test(line))!;
    assert.ok(
      report.includes('topic "room:x\\ncoro-ws: forged \\u2028\\u001b[2J\\""'),
      report,
    );
    await client.disconnect(1000);
  } finally {
    await server.shutdown();
    await proxy.close();
  }
});

test(`[${runtime}] RedisBroker: topic churn during an outage is reported at most once a second`, {
  skip,
}, async () => {
  const proxy = await TcpProxy.start(redis!.port);
  const errors: string[] = [];
  const link = await new RedisBroker({
    ...quick,
    url: proxy.url,
    prefix: "churn:",
    onError: (e) => errors.push(e.message),
  }).connect(() => {});
  try {
    proxy.cut();
    await waitFor(() => Promise.resolve(errors.length > 0), "the outage reported");
    const until = Date.now() + 1_500;
    for (let i = 0; Date.now() < until; i++) {
      link.subscribe(`t${i}`);
      link.unsubscribe(`t${i}`);
      if (i % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const churn = errors.filter((e) => /subscribe/.test(e));
    // Subscribes and unsubscribes, each reported at most at 0, 1 and 2 s: 2,753 reports before.
    assert.ok(churn.length <= 6, `${churn.length} reports:\n${churn.slice(0, 5).join("\n")}`);
    for (const error of churn) assert.match(error, /\d+ time\(s\)/);
  } finally {
    await link.close();
    await proxy.close();
  }
});

test(`[${runtime}] new RedisBroker() refuses a bad timing, naming it and what to pass`, () => {
  assert.throws(() => new RedisBroker({ pingTimeoutMs: "5000" as unknown as number }), {
    name: "TypeError",
    message: 'new RedisBroker(): "pingTimeoutMs" must be a number of milliseconds, got "5000"',
  });
  for (const bad of [0, -1, 1.5, NaN, Infinity, 2 ** 31]) {
    assert.throws(() => new RedisBroker({ connectTimeoutMs: bad }), {
      name: "RangeError",
      message: new RegExp(
        `^new RedisBroker\\(\\): "connectTimeoutMs" must be a whole number of milliseconds from 1 to \\d+, got ${bad}$`,
      ),
    });
  }
  assert.throws(() => new RedisBroker({ reconnectDelayMs: 500, maxReconnectDelayMs: 100 }), {
    name: "RangeError",
    message: /"maxReconnectDelayMs" must be at least "reconnectDelayMs" \(500\), got 100/,
  });
  for (const name of Object.keys(quick)) {
    assert.doesNotThrow(() => new RedisBroker({ [name]: 100 }), name);
  }
});

test(`[${runtime}] RedisBroker: nested prefixes do not hear each other`, { skip }, async () => {
  const links: BrokerLink[] = [];
  const open = async (prefix: string, got: BrokerMessage[] = []) => {
    const link = await new RedisBroker({ url: redis!.url, prefix }).connect((m) => got.push(m));
    links.push(link);
    return link;
  };
  try {
    const outer: BrokerMessage[] = [];
    const inner: BrokerMessage[] = [];
    const a = await open("app:", outer);
    const b = await open("app:topic:", inner);
    const sameAsA = await open("app:");
    const sameAsB = await open("app:topic:");
    // Nests even in the channel names of today: its broadcasts go on `app:#topic:#all`.
    const c = await open("app:#topic:");
    // Each topic a subscribes to would be a channel of b's under `<prefix>topic:<topic>`, and
    // "#all" one of c's if `#` in topics went unescaped.
    a.subscribe("all");
    a.subscribe("topic:x");
    a.subscribe("#all");
    b.subscribe("x");
    await untilDelivered(sameAsA, outer, "all", 5000);
    await untilDelivered(sameAsA, outer, "topic:x", 5000);
    await untilDelivered(sameAsA, outer, "#all", 5000);
    await untilDelivered(sameAsB, inner, "x", 5000);
    outer.length = 0;
    b.publish({ topic: null, data: "b to all" });
    b.publish({ topic: "x", data: "b to x" });
    c.publish({ topic: null, data: "c to all" });
    a.publish({ topic: "topic:x", data: "a to topic:x" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(outer.map((m) => m.data), [], "app: heard app:topic:");
    assert.deepEqual(inner.map((m) => m.data), [], "app:topic: heard app:");
  } finally {
    await Promise.all(links.map((link) => link.close()));
  }
});

/** Total of the counts in reports of dropped publishes. */
function dropped(errors: string[]): number {
  return errors.reduce((sum, e) => sum + Number(/^Cannot publish (\d+)/.exec(e)?.[1] ?? 0), 0);
}

/**
 * Publishes probes on `topic` from `sender` until one reaches `got`, then empties `got`: the
 * subscription has reached Redis.
 */
async function untilDelivered(sender: BrokerLink, got: BrokerMessage[], topic: string, ms: number) {
  const deadline = Date.now() + ms;
  while (!got.some((m) => m.topic === topic && m.data === "probe")) {
    assert.ok(Date.now() < deadline, `no probe on "${topic}" within ${ms} ms`);
    sender.publish({ topic, data: "probe" });
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  got.length = 0;
}

async function waitFor(
  condition: () => Promise<boolean>,
  what: string,
  ms = 5000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!await condition()) {
    assert.ok(Date.now() < deadline, `not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
