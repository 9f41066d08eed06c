/**
 * Brokers in one process: two servers joined by a `MemoryBroker` share topics and broadcasts,
 * and `publish()`'s opcode converts the payload once for every receiver.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { type Client, MemoryBroker, OPCODE, type PubSubBroker, Server } from "../../mod.ts";
import { message, open, runtime } from "../helpers.ts";

/**
 * A server whose `/ws?topic=T` subscribes to T and whose messages "TOPIC|TEXT" publish TEXT
 * to TOPIC ("*" broadcasts); it answers "ok" once subscribed.
 */
async function roomServer(broker?: PubSubBroker): Promise<{ server: Server; url: string }> {
  const server = new Server("127.0.0.1", 0);
  if (broker) server.useBroker(broker);
  server.handle("/ws", async (request, ws) => {
    if (!await ws.upgrade()) return;
    if (request.get.topic) ws.subscribe(request.get.topic);
    await ws.push("ok");
    for await (const frame of ws) {
      const [topic, text] = String(frame.data).split("|");
      if (topic === "*") server.broadcast(text);
      else server.publish(topic, text);
    }
  });
  void server.start();
  const { port } = await server.listening;
  return { server, url: `ws://127.0.0.1:${port}/ws` };
}

async function join(url: string, topic?: string): Promise<Client> {
  const client = await open(topic ? `${url}?topic=${topic}` : url);
  assert.equal(await message(client), "ok");
  return client;
}

test(`[${runtime}] MemoryBroker: publish and broadcast reach the other server's connections once`, async () => {
  const broker = new MemoryBroker();
  const a = await roomServer(broker);
  const b = await roomServer(broker);
  try {
    const onA = await join(a.url, "news");
    const onB = await join(b.url, "news");
    const elsewhere = await join(b.url, "sport");
    await onA.push("news|first");
    assert.equal(await message(onA), "first");
    assert.equal(await message(onB), "first");
    await onB.push("*|everyone");
    for (const client of [onA, onB, elsewhere]) assert.equal(await message(client), "everyone");
    await onA.push("news|second");
    assert.equal(await message(onB), "second", "news reached sport, or came twice");
    assert.equal(await message(onA), "second");
    for (const client of [onA, onB, elsewhere]) await client.disconnect(1000);
  } finally {
    await Promise.all([a.server.shutdown(), b.server.shutdown()]);
  }
});

test(`[${runtime}] MemoryBroker: delivers to other links that want the topic, never back`, async () => {
  const broker = new MemoryBroker();
  const got: string[] = [];
  const one = await broker.connect((message) => got.push(`one:${message.topic}:${message.data}`));
  const two = await broker.connect((message) => got.push(`two:${message.topic}:${message.data}`));
  two.subscribe("t");
  one.subscribe("t");
  one.publish({ topic: "t", data: "a" });
  one.publish({ topic: "other", data: "b" });
  two.unsubscribe("t");
  one.publish({ topic: "t", data: "c" });
  one.publish({ topic: null, data: "d" });
  await two.close();
  one.publish({ topic: null, data: "e" });
  assert.deepEqual(got, ["two:t:a", "two:null:d"]);
});

test(`[${runtime}] Server.publish(): the opcode converts the payload, other opcodes throw`, async () => {
  const { server, url } = await roomServer();
  try {
    const client = await join(url, "t");
    assert.equal(server.publish("t", "text as bytes", OPCODE.BINARY), 1);
    assert.deepEqual(await message(client), new TextEncoder().encode("text as bytes"));
    assert.equal(server.publish("t", new TextEncoder().encode("bytes as text"), OPCODE.TEXT), 1);
    assert.equal(await message(client), "bytes as text");
    assert.equal(server.broadcast(new Uint8Array([7])), 1);
    assert.deepEqual(await message(client), new Uint8Array([7]));
    assert.throws(() => server.publish("t", "x", OPCODE.PING), RangeError);
    await client.disconnect(1000);
  } finally {
    await server.shutdown();
  }
});

test(`[${runtime}] Server.useBroker(): start() rejects when the broker cannot connect`, async () => {
  const server = new Server("127.0.0.1", 0);
  server.useBroker({ connect: () => Promise.reject(new Error("broker down")) });
  await assert.rejects(server.start(), /broker down/);
  await assert.rejects(server.listening, /broker down/);
  assert.throws(() => server.useBroker(new MemoryBroker()), /has started/);
});
