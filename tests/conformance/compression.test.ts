/**
 * permessage-deflate (RFC 7692) with `websocket_compression`: negotiation (malformed offers
 * declined, never refused), compressed round trips in both directions (whole and fragmented),
 * control frames left alone, a zip bomb refused with 1009 before it fills memory, data that is
 * not deflate closed with 1007 while the server lives, and interop with the runtimes' own
 * clients. Deno's
 * own WebSocket server cannot negotiate the extension: there the tests prove it answers without
 * it and that compressed pushes arrive as plain messages, and then run again on Deno with
 * `websocket_engine: "ws"`, which negotiates it.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { constants, deflateRawSync, inflateRawSync } from "node:zlib";
import { CLOSE, FLAG, Frame, OPCODE, type Opcode } from "../../mod.ts";
import {
  assertServerSettled,
  connectWebSocket,
  message,
  open,
  runtime,
  serverCapabilities,
  startServer,
  within,
} from "../helpers.ts";
import { RawClient } from "../raw_client.ts";
import { concatBytes } from "../../src/core/frame.ts";

const KIB = 1024;
const MIB = 1024 * KIB;
const NO_EXTENSION = "Deno.upgradeWebSocket cannot negotiate permessage-deflate";
const OFFER = { "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits" };
/** Compressible: repeated JSON. */
const json = (bytes: number) =>
  JSON.stringify(Array.from({ length: bytes }, (_, i) => ({ id: i, room: "lobby" })))
    .slice(0, bytes);
const TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);

/** A message compressed as RFC 7692 §7.2.1 says: sync flush, its empty tail block removed. */
function deflate(data: Uint8Array): Uint8Array {
  const bytes = deflateRawSync(data, { finishFlush: constants.Z_SYNC_FLUSH });
  return new Uint8Array(bytes.subarray(0, bytes.byteLength - 4));
}

function inflate(data: Uint8Array): Uint8Array {
  const tailed = new Uint8Array(data.byteLength + 4);
  tailed.set(data);
  tailed.set(TAIL, data.byteLength);
  return new Uint8Array(inflateRawSync(tailed, { finishFlush: constants.Z_SYNC_FLUSH }));
}

/** A masked client frame; RSV1 marks the first frame of a compressed message. */
function clientFrame(payload: Uint8Array, opcode: Opcode, flags: number): Uint8Array {
  return Frame.pack(payload, opcode, flags | FLAG.MASK);
}

const RSV1 = FLAG.RSV1;

/** The server's resident memory, from /proc (Linux). */
function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * KIB;
}

/** Upgrades `/echo` on `port` offering `offer`; asserts the 101, returns the extension taken. */
async function extensionFor(port: number, offer: string): Promise<string | undefined> {
  const { client, answer } = await RawClient.upgrade(port, "/echo", {
    "Sec-WebSocket-Extensions": offer,
  });
  client.destroy();
  assert.equal(answer.status, 101, offer);
  return answer.headers["sec-websocket-extensions"];
}

for (const engine of runtime === "deno" ? ["native", "ws"] as const : ["native"] as const) {
  const name = engine === "native" ? runtime : `${runtime}, ws engine`;
  /** Deno.upgradeWebSocket cannot negotiate extensions. */
  const negotiates = (await serverCapabilities(engine)).compression;
  const server = await startServer("fixtures/compression.ts", {
    SETTINGS: JSON.stringify({ websocket_engine: engine }),
  });

  test(`[${name}] an offered permessage-deflate is accepted without context takeover`, async () => {
    const { client, answer } = await RawClient.upgrade(server.port, "/echo", OFFER);
    assert.equal(answer.status, 101);
    const extension = answer.headers["sec-websocket-extensions"];
    if (!negotiates) {
      assert.equal(extension, undefined, NO_EXTENSION);
      // The setting cannot take effect here, and the server says so once, at start.
      const warnings = server.output().match(/websocket_compression is on, but/g) ?? [];
      assert.equal(warnings.length, 1, `one warning: ${server.output()}`);
    } else {
      assert.doesNotMatch(server.output(), /websocket_compression is on, but/);
      assert.match(extension, /^permessage-deflate/);
      assert.match(extension, /server_no_context_takeover/);
      assert.match(extension, /client_no_context_takeover/);
    }
    client.destroy();
  });

  test(`[${name}] no offer, or the setting off: no extension, and FLAG.COMPRESS sends plain`, async () => {
    const off = await startServer("fixtures/compression.ts", {
      SETTINGS: JSON.stringify({ websocket_compression: false, websocket_engine: engine }),
    });
    try {
      for (const [port, headers] of [[server.port, {}], [off.port, OFFER]] as const) {
        const { client, answer } = await RawClient.upgrade(port, "/echo", headers);
        assert.equal(answer.status, 101);
        assert.equal(answer.headers["sec-websocket-extensions"], undefined);
        const message = new TextEncoder().encode(json(1000));
        client.write(clientFrame(message, OPCODE.BINARY, FLAG.FIN));
        const echoed = await client.nextFrame();
        assert.equal(echoed!.flags & RSV1, 0);
        assert.deepEqual(echoed!.data, message);
        client.destroy();
      }
    } finally {
      off.kill();
    }
  });

  test(`[${name}] an offer with parameters the server cannot take is declined, not failed`, {
    skip: negotiates ? false : NO_EXTENSION,
  }, async () => {
    // A 1 KiB window for the server's messages is below the 4 KiB it compresses with; a second
    // offer is the fallback RFC 7692 lets a client give.
    for (
      const [offer, accepted] of [
        ["permessage-deflate; server_max_window_bits=10", false],
        ["permessage-deflate; server_max_window_bits=10, permessage-deflate", true],
        ["permessage-deflate; unknown_parameter", false],
        ["permessage-deflate; client_max_window_bits=99", false],
        ["x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=10", true],
      ] as const
    ) {
      const extension = await extensionFor(server.port, offer);
      if (accepted) assert.match(extension ?? "", /^permessage-deflate/, offer);
      else assert.equal(extension, undefined, offer);
    }
  });

  test(`[${name}] a malformed offer is declined, not refused; a well-formed one in any spacing is taken`, async () => {
    // RFC 6455 §9.1: no whitespace around "=", a value is a token or a quoted token; RFC 7692
    // §7.1.2: a window size is 1*DIGIT, 8 to 15. Bun declines each of these.
    const malformed = [
      "permessage-deflate; server_max_window_bits= 15",
      "permessage-deflate; server_max_window_bits =15",
      "permessage-deflate; server_max_window_bits = 15",
      "permessage-deflate; client_max_window_bits=\t10",
      "permessage-deflate; client_max_window_bits\t=10",
      'permessage-deflate; server_max_window_bits=" 15"',
      'permessage-deflate; server_max_window_bits="15 "',
      "permessage-deflate; server_max_window_bits=0x0f",
      "permessage-deflate; server_max_window_bits=15.0",
      "permessage-deflate; server_max_window_bits=015",
      "permessage-deflate;; client_max_window_bits",
      "permessage-deflate; client_max_window_bits;",
      "permessage-deflate; client_no_context_takeover=",
    ];
    for (const offer of malformed) {
      assert.equal(await extensionFor(server.port, offer), undefined, offer);
    }
    const wellFormed = [
      'permessage-deflate; server_max_window_bits="15"',
      "permessage-deflate ; client_max_window_bits",
      "permessage-deflate;\tclient_max_window_bits=15\t; server_no_context_takeover",
      "permessage-deflate; server_max_window_bits= 15, permessage-deflate",
    ];
    for (const offer of wellFormed) {
      const extension = await extensionFor(server.port, offer);
      if (negotiates) assert.match(extension ?? "", /^permessage-deflate/, offer);
      else assert.equal(extension, undefined, `${offer}: ${NO_EXTENSION}`);
    }
    await assertServerSettled(server, "after malformed offers");
  });

  test(`[${name}] compressed messages round trip, above the threshold compressed, below it plain`, async () => {
    const { client } = await RawClient.upgrade(server.port, "/echo", OFFER);
    for (const size of [10, 127, 128, 4 * KIB, 60 * KIB]) {
      const message = new TextEncoder().encode(json(size));
      // The client compresses only where the extension was negotiated.
      client.write(
        negotiates
          ? clientFrame(deflate(message), OPCODE.BINARY, FLAG.FIN | RSV1)
          : clientFrame(message, OPCODE.BINARY, FLAG.FIN),
      );
      const echoed = await client.nextFrame();
      assert.ok(echoed, `no echo of ${size} B`);
      const compressed = (echoed.flags & RSV1) !== 0;
      assert.equal(compressed, negotiates && size >= 128, `${size} B compressed: ${compressed}`);
      const payload = echoed.data as Uint8Array;
      assert.deepEqual(compressed ? inflate(payload) : payload, message, `${size} B`);
      if (compressed && size >= 4 * KIB) assert.ok(payload.byteLength < size / 4);
    }
    client.destroy();
    await assertServerSettled(server, "after compressed round trips");
  });

  test(`[${name}] a compressed message in fragments is inflated whole`, {
    skip: negotiates ? false : NO_EXTENSION,
  }, async () => {
    const { client } = await RawClient.upgrade(server.port, "/echo", OFFER);
    const message = new TextEncoder().encode(json(8 * KIB));
    const compressed = deflate(message);
    const half = compressed.byteLength >> 1;
    client.write(clientFrame(compressed.subarray(0, half), OPCODE.BINARY, RSV1));
    client.write(clientFrame(compressed.subarray(half), OPCODE.CONTINUATION, FLAG.FIN));
    const echoed = await client.nextFrame();
    assert.ok(echoed && (echoed.flags & RSV1) !== 0);
    assert.deepEqual(inflate(echoed.data as Uint8Array), message);
    client.destroy();
  });

  test(
    `[${name}] control frames are never compressed; fragments of a compressed push are one message`,
    {
      skip: negotiates ? false : NO_EXTENSION,
    },
    async () => {
      const { client } = await RawClient.upgrade(server.port, "/fragments", OFFER);
      const message = new TextEncoder().encode(json(3 * KIB));
      client.write(clientFrame(message, OPCODE.BINARY, FLAG.FIN));
      const frames: Frame[] = [];
      for (let frame = await client.nextFrame(); frame; frame = await client.nextFrame()) {
        frames.push(frame);
        if (frame.opcode === OPCODE.PING) break;
      }
      const ping = frames.pop()!;
      assert.equal(ping.opcode, OPCODE.PING);
      assert.equal(ping.flags & RSV1, 0, "a ping with RSV1");
      // Whether the runtime sends the fragments as they are or whole, the message is compressed
      // once: RSV1 on its first frame only.
      assert.equal(frames[0].flags & RSV1, RSV1);
      assert.ok(frames.slice(1).every((frame) => (frame.flags & RSV1) === 0));
      const joined = concatBytes(frames.map((frame) => frame.data as Uint8Array));
      assert.deepEqual(inflate(joined), message);
      client.write(Frame.pack(new Uint8Array([0x03, 0xe8]), OPCODE.CLOSE, FLAG.FIN | FLAG.MASK));
      const close = await client.nextFrame();
      assert.equal(close?.opcode, OPCODE.CLOSE);
      assert.equal(close.flags & RSV1, 0, "a Close with RSV1");
      client.destroy();
    },
  );

  test(`[${name}] a zip bomb closes with 1009 before it is inflated`, {
    skip: negotiates ? false : NO_EXTENSION,
  }, async () => {
    // 128 MiB of zeros deflate to about 128 KiB: the limit (64 KiB) is crossed long before.
    const bomb = deflate(new Uint8Array(128 * MIB));
    const before = rssOf(server.pid);
    const { client } = await RawClient.upgrade(server.port, "/echo", OFFER);
    client.write(clientFrame(bomb, OPCODE.BINARY, FLAG.FIN | RSV1));
    assert.equal(await client.closeCode(), CLOSE.MESSAGE_TOO_BIG);
    const grown = rssOf(server.pid) - before;
    assert.ok(grown < 32 * MIB, `the server's RSS grew ${grown} B`);
    client.destroy();
    await assertServerSettled(server, "after a zip bomb");
  });

  test(`[${name}] a compressed frame that is not deflate data closes with 1007; the server serves on`, async () => {
    // A stored block (BFINAL 1, BTYPE 00) whose length and its complement disagree: inflating
    // fails at once ("invalid stored block lengths"). 2 header + 4 mask + 6 payload bytes.
    const notDeflate = clientFrame(
      new Uint8Array([1, 2, 3, 4, 5, 6]),
      OPCODE.BINARY,
      FLAG.FIN | RSV1,
    );
    assert.equal(notDeflate.byteLength, 12);
    // More peers than ws inflates at once (10): a failed inflate that kept its slot would stall
    // the next connection's message.
    for (let peer = 0; peer < 12; peer++) {
      const { client } = await RawClient.upgrade(server.port, "/echo", OFFER);
      client.write(notDeflate);
      // Where nothing was negotiated (Deno's own engine), RSV1 itself breaks the protocol, and
      // Deno answers that by closing TCP with no Close frame (see the hostile suite).
      const code = await client.closeCode();
      assert.equal(
        code,
        negotiates ? CLOSE.MESSAGE_ERROR : undefined,
        `server: ${server.output()}`,
      );
      await within(client.ended, 5000, "the server closing TCP");
      client.destroy();
    }
    await assertServerSettled(server, "after a frame that is not deflate data");
    const next = await RawClient.upgrade(server.port, "/echo", OFFER);
    assert.equal(next.answer.status, 101);
    const message = new TextEncoder().encode(json(1000));
    next.client.write(
      negotiates
        ? clientFrame(deflate(message), OPCODE.BINARY, FLAG.FIN | RSV1)
        : clientFrame(message, OPCODE.BINARY, FLAG.FIN),
    );
    const echoed = await next.client.nextFrame();
    assert.ok(echoed, "no echo on the next connection");
    const payload = echoed.data as Uint8Array;
    assert.deepEqual((echoed.flags & RSV1) !== 0 ? inflate(payload) : payload, message);
    next.client.destroy();
  });

  test(`[${name}] publish() with FLAG.COMPRESS compresses for each subscriber that negotiated it`, async () => {
    const compressed = await RawClient.upgrade(server.port, "/room", OFFER);
    const plain = await RawClient.upgrade(server.port, "/room");
    const message = new TextEncoder().encode(json(2 * KIB));
    // Both handlers subscribe right after their upgrade; give them that moment.
    await new Promise((resolve) => setTimeout(resolve, 200));
    plain.client.write(clientFrame(message, OPCODE.BINARY, FLAG.FIN));
    const receivers: [RawClient, boolean][] = [[compressed.client, negotiates], [
      plain.client,
      false,
    ]];
    for (const [client, expectCompressed] of receivers) {
      const frame = await client.nextFrame();
      assert.ok(frame, "no published message");
      assert.equal((frame.flags & RSV1) !== 0, expectCompressed);
      const payload = frame.data as Uint8Array;
      assert.deepEqual(expectCompressed ? inflate(payload) : payload, message);
      client.destroy();
    }
  });

  test(`[${name}] the runtime's own WebSocket client gets compressed text and binary`, async () => {
    // The runtime's own client, not coro-ws's: what it offers and takes is what is tested.
    const client = await connectWebSocket(`${server.wsUrl}/echo`);
    // Node's and Bun's clients offer permessage-deflate; Deno's does not.
    const clientOffers = runtime !== "deno";
    assert.equal(
      client.socket.extensions.startsWith("permessage-deflate"),
      clientOffers && negotiates,
      `extensions: "${client.socket.extensions}"`,
    );
    const text = json(16 * KIB);
    const bytes = new TextEncoder().encode(json(1000));
    client.send(text);
    assert.equal(await client.next(), text);
    client.send(bytes);
    assert.deepEqual(await client.next(), bytes);
    client.close(1000);
    await within(client.closed, 5000, "close");
  });

  test(`[${name}] push() flags other than FIN and COMPRESS are refused, naming the method`, async () => {
    // Offering the extension, as the runtimes' own clients do (Deno's aside).
    const client = await open(`${server.wsUrl}/flags`, [], { websocket_compression: true });
    await client.push(JSON.stringify(FLAG.FIN | FLAG.COMPRESS));
    assert.equal(await message(client), "x");
    assert.equal(await message(client), "pushed");
    await client.push(JSON.stringify(FLAG.RSV1));
    assert.match(String(await message(client)), /^RangeError: Cannot push\(\) with flags 4: only/);
    await client.push(JSON.stringify("yes"));
    assert.match(String(await message(client)), /^TypeError: Cannot push\(\) with flags yes: pass/);
    assert.equal(await client.disconnect(1000), true, "the server answered the Close");
  });
}
