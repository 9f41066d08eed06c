/**
 * Request bodies that never finish, over real sockets: uploads the client abandons, chunked
 * framing that is broken, and a Content-Length sent twice. Every such request must end: the
 * client gets an answer where one can still reach it, and the server keeps no socket, handler
 * or timer for it (read from its stats, its body timers and its open descriptors).
 */

import assert from "node:assert/strict";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { connect } from "node:net";
import process from "node:process";
import { test } from "node:test";
import { assertServerSettled, runtime, startServer } from "../helpers.ts";

const server = await startServer("fixtures/uploads.ts");
const engine = process.env.TEST_ENGINE ? `${runtime}-${process.env.TEST_ENGINE}` : runtime;

/** What came back on one connection before the server closed it. */
interface RawExchange {
  /** The status of the first answer, 0 when none came. */
  status: number;
  /** The server closed the connection (FIN or reset) within the wait. */
  closed: boolean;
}

/**
 * Sends `bytes` on a new connection, then ends it (`leave`: the client abandons the request)
 * or keeps it open, and resolves with what came back within `ms`.
 */
function send(bytes: string, leave: boolean, ms = 10_000): Promise<RawExchange> {
  return new Promise((resolve) => {
    const socket = connect(server.port, "127.0.0.1");
    let received = "";
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0), closed });
    };
    const timer = setTimeout(finish, ms);
    socket.on("data", (chunk) => received += chunk.toString("latin1"));
    socket.on("error", () => {});
    socket.on("close", () => {
      closed = true;
      finish();
    });
    socket.write(bytes, () => {
      if (leave) socket.end();
    });
  });
}

function post(headers: string[], body: string): string {
  return [`POST /upload HTTP/1.1`, "Host: 127.0.0.1", ...headers, "", body].join("\r\n");
}

/** Uploads that stop halfway: the client sends part of the body, then leaves. */
const ABANDONED: [string, string][] = [
  ["a Content-Length body cut short", post(["Content-Length: 100000"], "x".repeat(1000))],
  ["a chunked body cut short", post(["Transfer-Encoding: chunked"], "5\r\nhello\r\n")],
];

/** Chunked framing no parser may accept: each gets 400 and a closed connection. */
const MALFORMED: [string, string][] = [
  [
    "a chunk size ended by a bare LF",
    post(["Transfer-Encoding: chunked"], "5\nhello\r\n0\r\n\r\n"),
  ],
  [
    "a chunk extension with a control character",
    post(["Transfer-Encoding: chunked"], "5;\x01\r\nhello\r\n0\r\n\r\n"),
  ],
  [
    "a chunk size that overflows",
    post(["Transfer-Encoding: chunked"], "fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
  ],
  [
    "a chunk size that is not hex",
    post(["Transfer-Encoding: chunked"], "zz\r\nhello\r\n0\r\n\r\n"),
  ],
];

/**
 * The network sockets the server process holds open (Linux: its /proc descriptors), less its
 * Unix domain sockets: no client connection is one, and Deno makes a pair of its own at some
 * point when busy, which stays.
 */
function openSockets(): number {
  const dir = `/proc/${server.pid}/fd`;
  // The seventh field of a line of /proc/net/unix is the socket's inode.
  const unix = new Set(
    readFileSync("/proc/net/unix", "utf8").split("\n").map((line) => line.split(/\s+/)[6]),
  );
  let count = 0;
  for (const fd of readdirSync(dir)) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`${dir}/${fd}`))?.[1];
      if (inode !== undefined && !unix.has(inode)) count++;
    } catch {
      // Closed while we looked.
    }
  }
  return count;
}

async function liveBodyTimers(): Promise<number> {
  return Number(await (await fetch(`${server.url}/timers`)).text());
}

/**
 * Polls until the server holds at most `baseline` sockets, and fails with the count it saw
 * after `ms`: a socket left in CLOSE_WAIT never goes.
 */
async function assertSocketsBackTo(baseline: number, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  let count = openSockets();
  while (count > baseline && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    count = openSockets();
  }
  assert.ok(
    count <= baseline,
    `[${engine}] ${what}: the server holds ${count} sockets, had ${baseline}`,
  );
}

test(`[${engine}] uploads: malformed chunked framing gets 400 (Deno: a drop) and the connection closes`, async () => {
  for (const [what, bytes] of MALFORMED) {
    const answer = await send(bytes, false);
    // Deno's own parser drops the connection at broken chunked framing: no answer can be
    // written, but the client is not left waiting.
    const dropped = engine === "deno";
    assert.equal(answer.status, dropped ? 0 : 400, `[${engine}] ${what}: the status`);
    assert.ok(answer.closed, `[${engine}] ${what}: the server closes the connection`);
  }
  await assertServerSettled(server, "after malformed bodies", 15_000);
});

test(`[${engine}] uploads: a repeated Content-Length is one length when the values agree, else 400`, async () => {
  const agreeing = await send(
    post(["Content-Length: 5", "Content-Length: 5", "Connection: close"], "hello"),
    false,
  );
  // Node's parser refuses any repeated Content-Length itself (RFC 9110 §8.6 allows either).
  assert.equal(
    agreeing.status,
    runtime === "node" || process.env.TEST_ENGINE === "ws" ? 400 : 200,
    `[${engine}] equal values`,
  );
  const differing = await send(post(["Content-Length: 5", "Content-Length: 6"], "hello!"), false);
  assert.equal(differing.status, 400, `[${engine}] different values`);
  assert.ok(differing.closed, `[${engine}] different values: the connection closes`);
  // The length is enforced, not skipped: a body over package_max_length gets 413.
  const big = 3 * 1024 * 1024;
  const tooLarge = await send(
    post([`Content-Length: ${big}`, `Content-Length: ${big}`, "Connection: close"], ""),
    false,
  );
  assert.ok(
    [400, 413].includes(tooLarge.status),
    `[${engine}] a large repeated length: ${tooLarge.status}`,
  );
  await assertServerSettled(server, "after repeated lengths", 15_000);
});

test(`[${engine}] uploads: a body that arrives leaves no timer behind`, async () => {
  for (let i = 0; i < 50; i++) {
    const answer = await fetch(`${server.url}/upload`, { method: "POST", body: "x".repeat(100) });
    assert.equal(await answer.text(), "100");
  }
  assert.equal(await liveBodyTimers(), 0, `[${engine}] body timers still armed`);
});

test(`[${engine}] uploads: 1,000 abandoned or malformed uploads leave no socket, handler or timer`, async () => {
  await assertSocketsBackTo(openSockets(), "before"); // Let earlier tests' sockets go first.
  const baseline = openSockets();
  const cases = [...ABANDONED, ...MALFORMED];
  const total = 1000;
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const [, bytes] = cases[next++ % cases.length];
      // Abandoned uploads leave at once; malformed ones wait for their answer.
      await send(bytes, true, 10_000);
    }
  };
  await Promise.all(Array.from({ length: 20 }, worker));
  await assertSocketsBackTo(baseline, `after ${total} uploads`);
  await assertServerSettled(server, `after ${total} uploads`, 15_000);
  assert.equal(await liveBodyTimers(), 0, `[${engine}] body timers still armed`);
});

test(`[${engine}] uploads: a client that leaves before upgrade() frees its handler at once`, async () => {
  // The fixture's websocket_close_timeout is 60 s: a slot held until then fails this wait.
  const upgrade = [
    "GET /late-upgrade?ms=300 HTTP/1.1",
    "Host: 127.0.0.1",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
    "",
    "",
  ].join("\r\n");
  await Promise.all(Array.from({ length: 100 }, () => send(upgrade, true, 100)));
  await assertServerSettled(server, "after clients left before upgrade()", 15_000);
});
