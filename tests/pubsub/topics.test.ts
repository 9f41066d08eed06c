/**
 * The connection registry, topics and broadcast over real sockets: isolation between topics,
 * churn, a thousand receivers, and a slow consumer that must not stall the others.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { type Client, FLAG, Frame, OPCODE } from "../../mod.ts";
import { message, open, runtime, startServer, within } from "../helpers.ts";
import { RawClient } from "../raw_client.ts";

const server = await startServer("fixtures/topics.ts");

async function get(path: string): Promise<string> {
  return await (await fetch(`${server.url}${path}`)).text();
}

async function subscribed(topics: string[]): Promise<Client> {
  const client = await open(`${server.wsUrl}/ws`);
  for (const topic of topics) {
    await client.push(`sub:${topic}`);
    assert.equal(await message(client), `ok:sub:${topic}`);
  }
  return client;
}

async function countBecomes(expected: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Number(await get("/count")) !== expected) {
    if (Date.now() > deadline) assert.fail(`connections: ${await get("/count")}, not ${expected}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test(`[${runtime}] topics: publish reaches only the topic's subscribers`, async () => {
  const a = await subscribed(["a"]);
  const b = await subscribed(["b"]);
  const both = await subscribed(["a", "b"]);
  assert.equal(await get("/publish?topic=a&text=for-a"), "2");
  assert.equal(await message(a), "for-a");
  assert.equal(await message(both), "for-a");
  assert.equal(await get("/publish?topic=b&text=for-b"), "2");
  assert.equal(await message(b), "for-b", "b got nothing of a's before its own");
  assert.equal(await message(both), "for-b");
  await both.push("unsub:a");
  assert.equal(await message(both), "ok:unsub:a");
  assert.equal(await get("/publish?topic=a&text=again"), "1");
  assert.equal(await get("/publish?topic=nobody&text=x"), "0");
  for (const client of [a, b, both]) await client.disconnect(1000);
  await countBecomes(0);
});

test(`[${runtime}] connections: the registry follows opens and closes, abrupt ones too`, async () => {
  const clients = await Promise.all(
    Array.from({ length: 10 }, () => open(`${server.wsUrl}/ws`)),
  );
  const raws = await Promise.all(
    Array.from({ length: 10 }, () => RawClient.upgrade(server.port, "/ws")),
  );
  await countBecomes(20);
  for (const { client } of raws) client.destroy();
  await countBecomes(10);
  assert.equal(await get("/broadcast?text=still-here"), "10");
  for (const client of clients) assert.equal(await message(client), "still-here");
  for (const client of clients) await client.disconnect(1000);
  await countBecomes(0);
});

test(`[${runtime}] broadcast reaches 1,000 connections`, async () => {
  const raws: RawClient[] = [];
  for (let i = 0; i < 1000; i += 100) {
    const batch = await Promise.all(
      Array.from({ length: 100 }, () => RawClient.upgrade(server.port, "/ws")),
    );
    raws.push(...batch.map(({ client }) => client));
  }
  await countBecomes(1000);
  assert.equal(await get("/broadcast?text=hello-all"), "1000");
  const received = await Promise.all(raws.map((client) => client.nextFrame(10_000)));
  assert.equal(received.filter((frame) => frame?.data === "hello-all").length, 1000);
  for (const client of raws) client.destroy();
  await countBecomes(0);
});

test(`[${runtime}] a slow consumer is skipped, not buffered for, and does not stall others`, async () => {
  const slow = await RawClient.upgrade(server.port, "/ws");
  slow.client.write(Frame.pack("sub:slow", OPCODE.TEXT, FLAG.FIN | FLAG.MASK));
  assert.equal((await slow.client.nextFrame())?.data, "ok:sub:slow");
  slow.client.stopReading();
  const fast = await subscribed(["fast"]);
  let received = 0;
  const counting = (async () => {
    for (;;) {
      const data = await message(fast, 3).catch(() => undefined);
      if (data === undefined) return;
      received++;
    }
  })();
  const sent = JSON.parse(await within(get("/flood?count=400"), 20_000, "the flood")) as {
    slow: number;
    fast: number;
  };
  // 400 × 64 KiB = 25 MiB: the slow consumer took a few MiB (write limit, socket buffers).
  assert.ok(sent.slow < 200, `the slow consumer was sent ${sent.slow} of 400`);
  assert.ok(sent.fast > sent.slow, `fast ${sent.fast}, slow ${sent.slow}`);
  await counting;
  assert.equal(received, sent.fast, "the fast consumer got every message sent to it");
  slow.client.destroy();
  await fast.disconnect(1000);
  await countBecomes(0);
});
