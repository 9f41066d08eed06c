/**
 * How connections end, as a program sees it from the public API on both ends: `closeCode`,
 * `closeReason`, `closedBy` and `errCode` after the loop, and `strict()`, which ends the loop
 * with a `ConnectionClosedError` unless the close was clean. Over real sockets on every runtime.
 */

import assert from "node:assert/strict";
import process from "node:process";
import { test } from "node:test";
import { CLOSE, ConnectionClosedError, ERROR, FLAG, Frame, OPCODE } from "../../mod.ts";
import {
  assertServerSettled,
  closeOf,
  message,
  open,
  runtime,
  serverCapabilities,
  startServer,
  within,
} from "../helpers.ts";
import { RawClient } from "../raw_client.ts";

const engine = process.env.TEST_ENGINE ? `${runtime}-${process.env.TEST_ENGINE}` : runtime;
/** Bun and Deno's own engine drop a silent peer themselves and report it as the peer's close. */
const coreWatchesIdle = !(await serverCapabilities()).idleTimeout;

interface Ending {
  code: number;
  reason: string;
  closedBy: string;
  errCode: number;
  strict: "none" | { code: number; closedBy: string } | string;
}

let next = 0;

/** The ending the server printed for connection `id`; fails after a generous wait. */
async function ending(
  server: Awaited<ReturnType<typeof startServer>>,
  id: string,
): Promise<Ending> {
  const pattern = new RegExp(`^ending ${id} (.*)$`, "m");
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const found = pattern.exec(server.output());
    if (found) return JSON.parse(found[1]) as Ending;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail(`[${engine}] no ending for ${id}:\n${server.output()}`);
}

const server = await startServer("fixtures/endings.ts");

for (const strict of [false, true]) {
  const query = (id: string) => `/ending?id=${id}${strict ? "&strict" : ""}`;
  const mode = strict ? "strict()" : "for await";

  test(`[${engine}] ${mode}: the peer's Close 4001 with its reason; the Client sees its own close`, async () => {
    const id = `peer${next++}`;
    const client = await open(`${server.wsUrl}${query(id)}`);
    await client.push("x");
    assert.equal(await message(client), "x");
    assert.equal(await client.disconnect(4001, "client says bye"), true);
    const seen = await ending(server, id);
    assert.deepEqual([seen.code, seen.reason, seen.closedBy], [4001, "client says bye", "peer"]);
    assert.deepEqual(seen.strict, strict ? { code: 4001, closedBy: "peer" } : "none");
    assert.deepEqual(
      [client.closeCode, client.closeReason, client.closedBy],
      [4001, "client says bye", "self"],
    );
  });

  test(`[${engine}] ${mode}: 1009 for a message over package_max_length, closed for the rule`, async () => {
    const id = `big${next++}`;
    const { client } = await RawClient.upgrade(server.port, query(id));
    client.write(Frame.pack(new Uint8Array(2048), OPCODE.BINARY, FLAG.FIN | FLAG.MASK));
    assert.equal(await client.closeCode(), CLOSE.MESSAGE_TOO_BIG);
    client.destroy();
    const seen = await ending(server, id);
    assert.deepEqual(
      [seen.code, seen.closedBy, seen.errCode],
      [CLOSE.MESSAGE_TOO_BIG, "rule", ERROR.PACKAGE_LENGTH_TOO_LARGE],
    );
    assert.deepEqual(seen.strict, strict ? { code: 1009, closedBy: "rule" } : "none");
  });

  test(`[${engine}] ${mode}: a peer that drops the connection: 1006 and errCode 104`, async () => {
    const id = `drop${next++}`;
    const { client } = await RawClient.upgrade(server.port, query(id));
    client.destroy();
    const seen = await ending(server, id);
    assert.deepEqual(
      [seen.code, seen.closedBy, seen.errCode],
      [CLOSE.ABNORMAL, "peer", ERROR.CONNECTION_RESET],
    );
    assert.deepEqual(seen.strict, strict ? { code: 1006, closedBy: "peer" } : "none");
  });

  test(`[${engine}] ${mode}: the server's own disconnect(4002) is clean on its side`, async () => {
    const id = `self${next++}`;
    const client = await open(`${server.wsUrl}${query(id)}`);
    await client.push("bye");
    assert.deepEqual(await closeOf(client), { code: 4002, reason: "server says bye" });
    assert.deepEqual([client.closeCode, client.closedBy], [4002, "peer"]);
    const seen = await ending(server, id);
    assert.deepEqual([seen.code, seen.reason, seen.closedBy], [4002, "server says bye", "self"]);
    assert.equal(seen.strict, "none", "this side's own close is clean");
  });

  test(`[${engine}] ${mode}: a silent peer is dropped for the idle timeout`, {
    skip: coreWatchesIdle ? false : `${runtime}'s own engine drops an idle peer itself and ` +
      "reports it as the peer's close (docs/reference/runtimes.md)",
  }, async () => {
    const id = `idle${next++}`;
    // A raw client answers no ping: silent.
    const { client } = await RawClient.upgrade(server.port, query(id));
    const seen = await ending(server, id);
    assert.deepEqual([seen.closedBy, seen.errCode], ["timeout", ERROR.TIMEOUT]);
    assert.deepEqual(seen.strict, strict ? { code: seen.code, closedBy: "timeout" } : "none");
    client.destroy();
  });
}

test(`[${engine}] the Client's errCode is its newest error: a failed upgrade after a timeout`, async () => {
  const client = await open(`${server.wsUrl}/ending?id=order${next++}`);
  assert.equal(await client.recv(0.05), false);
  assert.equal(client.errCode, ERROR.TIMEOUT);
  assert.equal(await client.upgrade("/ending"), false, "already upgraded");
  assert.equal(client.errCode, ERROR.WEBSOCKET_HANDSHAKE_FAILED, client.errMsg);
  await client.push("bye"); // The server answers with its Close 4002: not clean for strict().
  const loop = (async () => {
    for await (const _frame of client.strict());
  })();
  await assert.rejects(
    within(loop, 10_000, "the end of the loop"),
    (error) => error instanceof ConnectionClosedError && error.code === 4002,
  );
  assert.deepEqual([client.closeCode, client.closedBy], [4002, "peer"]);
});

test(`[${engine}] afterwards the server is alive and holds no handler or connection`, async () => {
  await assertServerSettled(server, "after every ending", 15_000);
});

test(`[${engine}] a shutdown closes with 1001, by the server, and clean for strict()`, async () => {
  const own = await startServer("fixtures/endings.ts");
  try {
    const ids = ["down-loop", "down-strict"];
    const clients = await Promise.all([
      open(`${own.wsUrl}/ending?id=${ids[0]}`),
      open(`${own.wsUrl}/ending?id=${ids[1]}&strict`),
    ]);
    for (const client of clients) {
      await client.push("x");
      assert.equal(await message(client), "x");
    }
    assert.equal(await (await fetch(`${own.url}/shutdown`)).text(), "stopping");
    for (const client of clients) {
      assert.equal((await closeOf(client)).code, CLOSE.GOING_AWAY);
      assert.deepEqual([client.closeCode, client.closedBy], [CLOSE.GOING_AWAY, "peer"]);
    }
    assert.equal(await within(own.exited, 10_000, "the exit"), 0);
    for (const id of ids) {
      const seen = await ending(own, id);
      assert.deepEqual([seen.code, seen.closedBy, seen.strict], [1001, "self", "none"]);
    }
  } finally {
    own.kill();
  }
});
