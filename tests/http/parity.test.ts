/**
 * One handler, one behaviour: defaults and limits that differed by runtime, and bad arguments
 * that must be refused at the call with a TypeError or RangeError naming the method. The server
 * runs on the runtime under test, over real sockets; `set()` and `handle()` are checked on a
 * server made in this process, on the same runtime.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import process from "node:process";
import { test } from "node:test";
import { FLAG, Frame, OPCODE, Server } from "../../mod.ts";
import { concatBytes } from "../../src/core/frame.ts";
import {
  assertServerSettled,
  message,
  open,
  runtime,
  startServer,
  testPath,
  within,
} from "../helpers.ts";
import { RawClient } from "../raw_client.ts";

const server = await startServer("fixtures/parity.ts");

test(`[${runtime}] parity: a page without a Content-Type goes as text/html`, async () => {
  const answer = await fetch(`${server.url}/page`);
  assert.equal(answer.headers.get("content-type"), "text/html");
  assert.equal(await answer.text(), "<h1>hello</h1>");
});

test(`[${runtime}] parity: status() takes a string of digits, as Swoole does`, async () => {
  const answer = await fetch(`${server.url}/status-string`);
  assert.equal(answer.status, 404);
  await answer.body?.cancel();
});

test(`[${runtime}] parity: bad arguments to push(), recv() and status() are refused at the call`, async () => {
  const outcomes = await (await fetch(`${server.url}/bad-arguments`)).json() as Record<
    string,
    string
  >;
  for (const [call, outcome] of Object.entries(outcomes)) {
    const method = call.slice(0, call.indexOf("("));
    assert.match(outcome, /^(TypeError|RangeError): /, `[${runtime}] ${call}: ${outcome}`);
    assert.ok(outcome.includes(`${method}(`), `[${runtime}] ${call} names ${method}: ${outcome}`);
  }
});

test(`[${runtime}] parity: set() refuses values out of range and non-objects, naming set()`, () => {
  const bad: [unknown, typeof TypeError | typeof RangeError][] = [
    [null, TypeError],
    ["package_max_length=1", TypeError],
    [{ websocket_idle_timeout: Infinity }, RangeError],
    [{ websocket_idle_timeout: 961 }, RangeError],
    [{ package_max_length: 1.5 }, RangeError],
    [{ websocket_write_limit: 0 }, RangeError],
    [{ max_connections: NaN }, RangeError],
    [{ websocket_close_timeout: 2 ** 31 }, RangeError],
    [{ http_max_header_size: 64 * 1024 }, RangeError],
  ];
  for (const [settings, kind] of bad) {
    assert.throws(
      () => new Server("127.0.0.1", 0).set(settings as never),
      (error: Error) => error instanceof kind && error.message.startsWith("server.set(): "),
      `[${runtime}] set(${JSON.stringify(settings)})`,
    );
  }
  assert.doesNotThrow(() => new Server("127.0.0.1", 0).set({ socket_read_timeout: Infinity }));
});

test(`[${runtime}] parity: handle() refuses a handler that is not a function and a route that cannot match`, () => {
  const bad: [unknown, unknown][] = [
    [undefined, () => {}],
    ["x", () => {}],
    ["/a?x=1", () => {}],
    ["/x", "notafunction"],
    ["/x", undefined],
  ];
  for (const [pattern, handler] of bad) {
    assert.throws(
      () => new Server("127.0.0.1", 0).handle(pattern as never, handler as never),
      (error: Error) => error instanceof TypeError && error.message.includes("handle("),
      `[${runtime}] handle(${String(pattern)}, ${typeof handler})`,
    );
  }
});

test(`[${runtime}] parity: shutdown() before start() resolves at once, and start() then rejects`, async () => {
  const unstarted = new Server("127.0.0.1", 0);
  await within(unstarted.shutdown(), 1000, `[${runtime}] shutdown() before start()`);
  await assert.rejects(unstarted.start(), /shut down/);
});

test(`[${runtime}] parity: recv(Infinity) waits for the message`, async () => {
  const client = await open(`${server.wsUrl}/recv-forever`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  await client.push("late");
  assert.equal(await message(client), "got late", `[${runtime}]`);
  client.close();
});

test(`[${runtime}] parity: a second recv() rejects, so .catch() sees it`, async () => {
  const client = await open(`${server.wsUrl}/recv-twice`);
  assert.equal(await message(client), "ConcurrencyError", `[${runtime}]`);
  client.close();
});

test(`[${runtime}] parity: sendfile() past a file's end or of a folder resolves false`, async () => {
  const outcome = await (await fetch(`${server.url}/sendfile-refusals`)).json();
  assert.deepEqual(outcome, { pastEnd: false, pastEndCode: 416, folder: false, folderCode: 2 });
});

test(`[${runtime}] parity: a forgotten end(), upgrade() or failed sendfile() is logged`, async () => {
  for (const path of ["/forgets-end", "/unchecked-sendfile"]) {
    const answer = await fetch(`${server.url}${path}`);
    assert.equal(answer.status, 500, `[${runtime}] ${path}`);
    await answer.body?.cancel();
  }
  const { answer, client } = await RawClient.upgrade(server.port, "/forgets-upgrade");
  client.destroy();
  assert.equal(answer.status, 500);
  const deadline = Date.now() + 10_000;
  const expected = [
    /GET \/forgets-end \(fd \d+\) returned without end\(\): answered 500/,
    /GET \/unchecked-sendfile \(fd \d+\) returned without end\(\) \(after: Cannot send/,
    /GET \/forgets-upgrade \(fd \d+\) returned without upgrade\(\) or end\(\)/,
  ];
  while (!expected.every((line) => line.test(server.output())) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  for (const line of expected) assert.match(server.output(), line, `[${runtime}]`);
});

test(`[${runtime}] parity: a 1 MB message in 100,000 fragments is taken, as its bytes allow`, async () => {
  const { client } = await RawClient.upgrade(server.port, "/echo");
  const piece = new Uint8Array(10).fill(7);
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 100_000; i++) {
    const flags = (i === 99_999 ? FLAG.FIN : 0) | FLAG.MASK;
    frames.push(Frame.pack(piece, i === 0 ? OPCODE.BINARY : OPCODE.CONTINUATION, flags));
  }
  client.write(concatBytes(frames));
  const echo = await client.nextFrame(10_000);
  client.destroy();
  assert.equal((echo?.data as Uint8Array | undefined)?.byteLength, 1_000_000, `[${runtime}]`);
});

test(`[${runtime}] parity: a request head past http_max_header_size gets 431`, async () => {
  const answer = await RawClient.get(server.port, "/page", undefined, [
    `X-Big: ${"a".repeat(20_000)}`,
  ]);
  assert.equal(answer.status, 431, `[${runtime}] a 20 KB header`);
});

test(`[${runtime}] parity: a request head past 64 KiB gets 431`, {
  skip: runtime === "deno" ? "Deno.serve answers a head past 64 KiB 400 itself" : false,
}, async () => {
  const answer = await RawClient.get(server.port, "/page", undefined, [
    `X-Big: ${"a".repeat(100_000)}`,
  ]);
  assert.equal(answer.status, 431, `[${runtime}] a 100 KB header`);
});

test(`[${runtime}] parity: an absolute-form request target is routed by its path`, async () => {
  const client = await RawClient.open(server.port);
  client.write(
    `GET http://127.0.0.1:${server.port}/page HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
  );
  const text = await new Promise<string>((resolve) => {
    let data = "";
    client.socket.on("data", (chunk: Uint8Array) => data += new TextDecoder().decode(chunk));
    client.socket.on("close", () => resolve(data));
  });
  assert.match(text, /^HTTP\/1\.1 200 /, `[${runtime}]`);
  assert.ok(text.endsWith("<h1>hello</h1>"), `[${runtime}] ${text.slice(-40)}`);
});

test(`[${runtime}] parity: a port in use gives one message, naming the address`, async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  const port = (blocker.address() as { port: number }).port;
  try {
    const args = runtime === "deno" ? ["run", "-A"] : [];
    const child = spawn(process.execPath, [...args, testPath("fixtures/parity.ts")], {
      env: { ...process.env, HOST: "127.0.0.1", PORT: String(port), NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    for (const stream of [child.stdout, child.stderr]) {
      stream.on("data", (chunk: Uint8Array) => output += new TextDecoder().decode(chunk));
    }
    const code = await within(
      new Promise((resolve) => child.on("close", resolve)),
      10_000,
      `[${runtime}] the process exits`,
    );
    assert.notEqual(code, 0, output);
    const message = `Cannot listen on 127.0.0.1:${port}: address already in use`;
    assert.equal(output.split(message).length - 1, 1, `[${runtime}] once:\n${output}`);
  } finally {
    blocker.close();
  }
});

test(`[${runtime}] parity: afterwards the server is alive and holds no handler`, async () => {
  await assertServerSettled(server, "the parity fixture");
});
