/**
 * The coroutine client (`Client`), on the runtime under test, against a malicious server
 * (fixtures/hostile_server.ts, raw `node:net` on Node): each way a server can try to make a
 * client hang or fill its memory ends in `false` or `""` with a clear `errCode`, within a
 * generous bound, and the endless cases stop once the client has read a bounded amount; and
 * each framing rule of RFC 6455 a server can break gets the Close code the RFC asks for.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { Client, CLOSE, ERROR, OPCODE } from "../../mod.ts";
import { runtime, startServer, within } from "../helpers.ts";

const server = await startServer("fixtures/hostile_server.ts", {}, "node");
const MIB = 1024 * 1024;
/** How long any case may take before it counts as a hang: far past every limit it hits. */
const BOUND_MS = 20_000;

/**
 * What each endless case wrote before the client hung up (`/written`), or the code of the
 * client's Close (`/closes`) or the payload of its Pong (`/pongs`).
 */
function serverSaw(what: "/written" | "/closes", path: string): Promise<number>;
function serverSaw(what: "/pongs", path: string): Promise<string>;
async function serverSaw(what: string, path: string): Promise<number | string> {
  // Asked once the client has given up, which the server may see a little later.
  for (let tries = 0; tries < 50; tries++) {
    const counts = await (await fetch(`${server.url}${what}`)).json() as Record<string, number>;
    if (counts[path] !== undefined) return counts[path];
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return NaN;
}

const written = (path: string) => serverSaw("/written", path);

/** A client with a 2 s handshake timeout and a 1 MiB message limit. */
function client(settings: Parameters<Client["set"]>[0] = {}): Client {
  const made = new Client("127.0.0.1", server.port);
  made.set({ timeout: 2, package_max_length: MIB, ...settings });
  return made;
}

/** Upgrades `path`, expecting the handshake to fail with `errCode`. */
async function refused(path: string, errCode: number, settings = {}): Promise<Client> {
  const made = client(settings);
  assert.equal(await within(made.upgrade(path), BOUND_MS, `upgrade(${path})`), false);
  assert.equal(made.errCode, errCode, `${path}: ${made.errMsg}`);
  assert.equal(made.connected, false);
  return made;
}

/**
 * Upgrades `path`, then expects the first recv() to end the connection with `errCode`, and the
 * client to have told the server why with a Close `code`.
 */
async function dropped(path: string, errCode: number, code: number, settings = {}) {
  const made = client(settings);
  assert.equal(await within(made.upgrade(path), BOUND_MS, `upgrade(${path})`), true, made.errMsg);
  assert.equal(await within(made.recv(), BOUND_MS, `recv() on ${path}`), "");
  assert.equal(made.errCode, errCode, `${path}: ${made.errMsg}`);
  assert.match(made.errMsg, new RegExp(String(code)));
  assert.equal(await serverSaw("/closes", path), code, `the Close the client sent on ${path}`);
}

const name = `[${runtime} client, hostile server]`;

test(`${name} a 101 whose head never ends fails the handshake once the head is too long`, async () => {
  await refused("/endless-head", ERROR.WEBSOCKET_HANDSHAKE_FAILED);
  const bytes = await written("/endless-head");
  // What the kernel's buffers and the client's header limit took, not the server's whole flood.
  assert.ok(bytes < 64 * MIB, `the client read ${bytes} bytes of header`);
});

test(`${name} a handshake trickled a byte at a time times out (errCode 110)`, async () => {
  // Each byte comes well within any idle timeout: only a deadline for the whole handshake stops
  // it (the head takes 200 s to arrive).
  const made = await refused("/trickle", ERROR.TIMEOUT, { timeout: 1 });
  assert.equal(made.statusCode, 0);
});

test(`${name} a wrong Sec-WebSocket-Accept fails the handshake`, async () => {
  const made = await refused("/bad-accept", ERROR.WEBSOCKET_HANDSHAKE_FAILED);
  assert.match(made.errMsg, /Sec-WebSocket-Accept/i);
});

test(`${name} a 302 is not followed: false with its status and Location`, async () => {
  const made = await refused("/redirect", ERROR.WEBSOCKET_HANDSHAKE_FAILED);
  assert.equal(made.statusCode, 302);
  assert.equal(made.headers.location, "/elsewhere");
});

test(`${name} a 503 with an endless body gives its status and 64 KiB of body, and stops reading`, async () => {
  const made = await refused("/endless-body", ERROR.WEBSOCKET_HANDSHAKE_FAILED);
  assert.equal(made.statusCode, 503);
  assert.equal(made.headers["retry-after"], "7");
  // The chunks' data without their sizes, cut at the bound.
  assert.equal(made.body, "z".repeat(64 * 1024));
  const bytes = await written("/endless-body");
  assert.ok(bytes < 64 * MIB, `the client read ${bytes} bytes of body`);
});

test(`${name} a frame header claiming 2^63 bytes closes with 1009 at once`, async () => {
  await dropped("/huge-frame", ERROR.PACKAGE_LENGTH_TOO_LARGE, CLOSE.MESSAGE_TOO_BIG);
  const bytes = await written("/huge-frame");
  assert.ok(bytes < 64 * MIB, `the client read ${bytes} bytes of payload`);
});

test(`${name} a compression bomb closes with 1009 at the message limit`, async () => {
  await dropped("/bomb", ERROR.PACKAGE_LENGTH_TOO_LARGE, CLOSE.MESSAGE_TOO_BIG, {
    websocket_compression: true,
  });
});

test(`${name} a masked server frame closes with 1002`, async () => {
  await dropped("/masked", ERROR.PROTOCOL_ERROR, CLOSE.PROTOCOL_ERROR);
});

test(`${name} a text frame that is not UTF-8 closes with 1007`, async () => {
  await dropped("/bad-utf8", ERROR.PROTOCOL_ERROR, CLOSE.MESSAGE_ERROR);
});

test(`${name} RSV bits that no extension gave a meaning close with 1002`, async () => {
  await dropped("/rsv", ERROR.PROTOCOL_ERROR, CLOSE.PROTOCOL_ERROR);
});

/** Each rule of RFC 6455 the server breaks: the Close code the client must answer it with. */
const BROKEN_RULES: [string, number][] = [
  ["/fragmented-ping", CLOSE.PROTOCOL_ERROR],
  ["/long-ping", CLOSE.PROTOCOL_ERROR],
  ["/lone-continuation", CLOSE.PROTOCOL_ERROR],
  ["/interleaved", CLOSE.PROTOCOL_ERROR],
  ["/opcode-3", CLOSE.PROTOCOL_ERROR],
  ["/opcode-11", CLOSE.PROTOCOL_ERROR],
  ["/bad-utf8-fragments", CLOSE.MESSAGE_ERROR],
  ["/close-1-byte", CLOSE.PROTOCOL_ERROR],
  ["/close-1005", CLOSE.PROTOCOL_ERROR],
  ["/close-999", CLOSE.PROTOCOL_ERROR],
  ["/close-1004", CLOSE.PROTOCOL_ERROR],
  ["/close-bad-reason", CLOSE.MESSAGE_ERROR],
];

for (const [path, code] of BROKEN_RULES) {
  test(`${name} RFC 6455 framing: ${path.slice(1)} closes with ${code}`, async () => {
    await dropped(path, ERROR.PROTOCOL_ERROR, code);
  });
}

test(`${name} a ping between fragments is answered, and the message comes whole`, async () => {
  const made = client({ open_websocket_ping_frame: true });
  assert.equal(await within(made.upgrade("/ping-in-fragments"), BOUND_MS, "upgrade"), true);
  const ping = await within(made.recv(5), BOUND_MS, "recv") as { opcode: number };
  assert.equal(ping.opcode, OPCODE.PING);
  assert.equal((await within(made.recv(5), BOUND_MS, "recv") as { data: unknown }).data, "Hello");
  assert.equal(await serverSaw("/pongs", "/ping-in-fragments"), "mid");
  made.close();
});

test(`${name} the server's Close is echoed with its code, and the close is clean`, async () => {
  const made = client();
  assert.equal(await within(made.upgrade("/close-echo"), BOUND_MS, "upgrade"), true);
  assert.equal(await within(made.recv(), BOUND_MS, "recv"), "");
  assert.equal(made.closeCode, 4000);
  assert.equal(made.closeReason, "bye");
  assert.equal(made.closedBy, "peer");
  assert.equal(await serverSaw("/closes", "/close-echo"), 4000);
});

test(`${name} done: the server stops`, () => {
  server.kill();
});
