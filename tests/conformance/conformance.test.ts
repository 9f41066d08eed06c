/**
 * The shared conformance suite: the fixture server runs on the runtime that runs this file,
 * and real clients drive it over 127.0.0.1.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { detectAdapter } from "../../src/adapters/detect.ts";
import { CLOSE, FLAG, Frame, OPCODE } from "../../mod.ts";
import {
  closeOf,
  connectWebSocket,
  message,
  open,
  runtime,
  startServer,
  within,
} from "../helpers.ts";
import { RawClient } from "../raw_client.ts";

const capabilities =
  (await detectAdapter(process.env.TEST_ENGINE as "ws" | undefined)).capabilities;
const server = await startServer("fixtures/server.ts");

test(`[${runtime}] echo with the runtime's own WebSocket: text and binary round trip`, async () => {
  const client = await connectWebSocket(`${server.wsUrl}/echo`);
  client.send("hello");
  assert.equal(await client.next(), "hello");
  client.send(new Uint8Array([0, 1, 255]));
  assert.deepEqual(await client.next(), new Uint8Array([0, 1, 255]));
  const big = "x".repeat(200_000);
  client.send(big);
  assert.equal(await client.next(), big);
  client.close(1000);
  assert.equal((await client.closed).code, 1000);
});

test(`[${runtime}] recv() reassembles a fragmented message from the client`, async () => {
  const { client, answer } = await RawClient.upgrade(server.port, "/echo");
  assert.equal(answer.status, 101);
  const masked = FLAG.MASK;
  client.write(Frame.pack("Hel", OPCODE.TEXT, masked));
  client.write(Frame.pack("lo ", OPCODE.CONTINUATION, masked));
  client.write(Frame.pack("world", OPCODE.CONTINUATION, masked | FLAG.FIN));
  const frame = await client.nextFrame();
  assert.equal(frame?.opcode, OPCODE.TEXT);
  assert.equal(frame?.data, "Hello world");
  client.destroy();
});

test(`[${runtime}] push() with finish=false sends a fragmented message in order`, async () => {
  const { client } = await RawClient.upgrade(server.port, "/fragments");
  client.write(Frame.pack("go", OPCODE.TEXT, FLAG.FIN | FLAG.MASK));
  const frames: Frame[] = [];
  for (let i = 0; i < (capabilities.fragments ? 6 : 3); i++) {
    const frame = await client.nextFrame();
    assert.ok(frame, `frame ${i} arrived`);
    frames.push(frame);
  }
  // The codec gives a continuation frame's payload as bytes: show text fragments as text.
  const text = (f: Frame) =>
    f.opcode === OPCODE.CONTINUATION && frames[0].opcode === OPCODE.TEXT && f !== frames[5]
      ? new TextDecoder().decode(f.data as Uint8Array)
      : f.data;
  if (capabilities.fragments) {
    // Real fragments on the wire: Hel, lo, ! then "after", then two binary fragments.
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.finish, text(f)]),
      [
        [OPCODE.TEXT, false, "Hel"],
        [OPCODE.CONTINUATION, false, "lo"],
        [OPCODE.CONTINUATION, true, "!"],
        [OPCODE.TEXT, true, "after"],
        [OPCODE.BINARY, false, new Uint8Array([1, 2])],
        [OPCODE.CONTINUATION, true, new Uint8Array([3])],
      ],
    );
  } else {
    // The runtime sends whole messages: the fragments arrive joined, still in order.
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.finish, f.data]),
      [
        [OPCODE.TEXT, true, "Hello!"],
        [OPCODE.TEXT, true, "after"],
        [OPCODE.BINARY, true, new Uint8Array([1, 2, 3])],
      ],
    );
  }
  client.destroy();
});

test(`[${runtime}] upgrade() sends the chosen subprotocol and extra headers in the 101`, async () => {
  const { client, answer } = await RawClient.upgrade(server.port, "/protocol?choose=b", {
    "Sec-WebSocket-Protocol": "a, b",
  });
  assert.equal(answer.status, 101);
  assert.equal(answer.headers["sec-websocket-protocol"], "b");
  assert.equal(answer.headers["x-extra"], "in-the-101");
  assert.equal((await client.nextFrame())?.data, "offered: a, b");
  client.destroy();

  const offering = await open(`${server.wsUrl}/protocol?choose=b`, ["a", "b"]);
  assert.equal(offering.protocol, "b");
  offering.close();
});

test(`[${runtime}] upgrade() takes subprotocols offered without a space after the comma`, async () => {
  // RFC 6455 §4.1 allows "a,b"; ws sends it so, and Deno's upgradeWebSocket splits on ", ".
  const { client, answer } = await RawClient.upgrade(server.port, "/protocol?choose=b", {
    "Sec-WebSocket-Protocol": "a,b",
  });
  assert.equal(answer.status, 101);
  assert.equal(answer.headers["sec-websocket-protocol"], "b");
  assert.equal((await client.nextFrame())?.data, "offered: a,b");
  client.destroy();
});

test(`[${runtime}] upgrade() leaves out a subprotocol the client did not offer`, async () => {
  const { client, answer } = await RawClient.upgrade(server.port, "/protocol?choose=z", {
    "Sec-WebSocket-Protocol": "a",
  });
  assert.equal(answer.status, 101);
  assert.equal(answer.headers["sec-websocket-protocol"], undefined);
  client.destroy();
});

test(`[${runtime}] recv(timeout) returns false with errCode 110, then the next message`, async () => {
  const client = await open(`${server.wsUrl}/timeout`);
  assert.equal(await message(client), "first: false 110 110");
  await client.push("later");
  assert.equal(await message(client), "second: later");
  client.close();
});

test(`[${runtime}] a second concurrent recv() rejects with ConcurrencyError`, async () => {
  const client = await open(`${server.wsUrl}/concurrent-recv`);
  assert.equal(await message(client), "ConcurrencyError");
  client.close();
});

test(`[${runtime}] concurrent pushes from several tasks keep each task's order`, async () => {
  const client = await open(`${server.wsUrl}/concurrent-push`);
  await client.push("go");
  const next = { a: 0, b: 0, c: 0 };
  for (let i = 0; i < 600; i++) {
    const text = String(await message(client));
    const name = text[0] as keyof typeof next;
    assert.equal(text.split(" ")[0], `${name}${next[name]}`);
    assert.equal(text.length, text.split(" ")[0].length + 1 + next[name] * 50);
    next[name]++;
  }
  assert.equal(await message(client), "done");
  client.close();
});

test(`[${runtime}] the peer's Close reaches recv() as a CloseFrame, then ""`, async () => {
  const client = await open(`${server.wsUrl}/close-frame`);
  assert.equal(await client.disconnect(4001, "client-bye"), true, "the server echoed the Close");
  let seen = null;
  for (let i = 0; i < 50 && seen === null; i++) {
    seen = await (await fetch(`${server.url}/last-close-frame`)).json();
    if (seen === null) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.deepEqual(seen, { code: 4001, reason: "client-bye" });
});

test(`[${runtime}] close() drops the connection${capabilities.terminate ? " without a Close frame" : ""}`, async () => {
  const { client } = await RawClient.upgrade(server.port, "/close");
  client.write(Frame.pack("close", OPCODE.TEXT, FLAG.FIN | FLAG.MASK));
  const frame = await client.nextFrame();
  if (capabilities.terminate) {
    assert.equal(frame, undefined, "no frame before TCP closes");
    await within(client.ended, 2000, "TCP close");
  } else {
    // Deno cannot drop a connection without a Close frame: it sends 1000 (README table).
    assert.equal(frame?.opcode, OPCODE.CLOSE);
    assert.equal((frame as { code?: number }).code, 1000);
    client.destroy();
  }
});

test(`[${runtime}] disconnect(code, reason) sends that Close frame`, async () => {
  const client = await open(`${server.wsUrl}/close`);
  await client.push("disconnect");
  assert.deepEqual(await closeOf(client), { code: 4000, reason: "bye" });
});

test(`[${runtime}] disconnect() refuses a code that may not be sent`, async () => {
  const client = await open(`${server.wsUrl}/close`);
  await client.push("bad-code");
  assert.equal(await message(client), "RangeError");
  assert.equal((await closeOf(client)).code, 1000);
});

test(`[${runtime}] a handler that returns closes with 1000`, async () => {
  const client = await open(`${server.wsUrl}/close`);
  await client.push("return");
  assert.equal((await closeOf(client)).code, 1000);
});

test(`[${runtime}] a handler that throws closes with 1011; others keep working`, async () => {
  const bystander = await open(`${server.wsUrl}/echo`);
  const client = await open(`${server.wsUrl}/close`);
  await client.push("throw");
  assert.equal((await closeOf(client)).code, CLOSE.SERVER_ERROR);
  await bystander.push("still here");
  assert.equal(await message(bystander), "still here");
  bystander.close();
  assert.match(server.output(), /handler failed on purpose/);
});

test(`[${runtime}] recv() and push() on a request that was not upgraded fail with 8503`, async () => {
  const answer = await fetch(`${server.url}/not-upgraded`);
  assert.deepEqual(await answer.json(), { frame: false, pushed: false, errCode: 8503 });
});

test(`[${runtime}] upgrade() answers 400 to a request that is not a valid upgrade`, async () => {
  const plain = await fetch(`${server.url}/upgrade-or-400`);
  assert.equal(plain.status, 400);
  assert.match(await plain.text(), /Upgrade header/);
  for (
    const [header, value] of [
      ["Sec-WebSocket-Key", ""],
      ["Sec-WebSocket-Key", "short"],
      ["Sec-WebSocket-Version", "8"],
    ]
  ) {
    const { client, answer } = await RawClient.upgrade(server.port, "/upgrade-or-400", {
      [header]: value,
    });
    assert.equal(answer.status, 400, `${header}: "${value}"`);
    client.destroy();
  }
});

test(`[${runtime}] HTTP: status, headers, query, cookie and request info`, async () => {
  const answer = await fetch(`${server.url}/http?q=1&q=2`, { headers: { cookie: "c=a%20b; d=e" } });
  assert.equal(answer.status, 201);
  assert.equal(answer.headers.get("x-query"), "2");
  assert.equal(answer.headers.get("x-cookie"), "a b");
  assert.equal(await answer.text(), "GET /http q=1&q=2");
});

test(`[${runtime}] HTTP: a throwing handler gets 500, one without end() gets 500`, async () => {
  const thrown = await fetch(`${server.url}/http-throw`);
  assert.equal(thrown.status, 500);
  await thrown.body?.cancel();
  const silent = await fetch(`${server.url}/http-no-end`);
  assert.equal(silent.status, 500);
  await silent.body?.cancel();
  assert.equal((await fetch(`${server.url}/http`)).status, 201);
});

test(`[${runtime}] routing: longest prefix wins, case-insensitive, no match is 404`, async () => {
  const text = async (path: string) => {
    const answer = await fetch(`${server.url}${path}`);
    return `${answer.status} ${await answer.text()}`;
  };
  assert.equal(await text("/routes/longer/x"), "200 long");
  assert.equal(await text("/ROUTES/LONGER"), "200 long");
  assert.equal(await text("/routes/other"), "200 short");
  assert.equal(await text("/nothing-here"), "404 Not Found\n");
});

test(`[${runtime}] shutdown() closes open WebSockets with 1001 and start() settles`, async () => {
  const own = await startServer("fixtures/server.ts");
  const client = await open(`${own.wsUrl}/echo`);
  await (await fetch(`${own.url}/http`)).text(); // Leaves an idle keep-alive connection.
  await (await fetch(`${own.url}/shutdown`)).text();
  assert.equal((await closeOf(client)).code, CLOSE.GOING_AWAY);
  assert.equal(await within(own.exited, 8000, "server exit"), 0);
  assert.match(own.output(), /stopped/);
});

test(`[${runtime}] the process exits after shutdown() even when a peer vanished without a Close`, {
  skip: runtime === "deno"
    ? "Deno keeps the process alive once a WebSocket peer has sent EOF without a Close"
    : false,
}, async () => {
  const own = await startServer("fixtures/server.ts");
  const { client } = await RawClient.upgrade(own.port, "/echo");
  client.destroy();
  await (await fetch(`${own.url}/shutdown`)).text();
  assert.equal(await within(own.exited, 8000, "server exit"), 0);
  assert.match(own.output(), /stopped/);
});
