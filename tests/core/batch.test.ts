/**
 * The core's send batching (src/core/batch.ts, outbound.ts) over a FakeLink: a turn's sends
 * go out in one flush, the bound on a batch, and control frames and closes after what was
 * pushed before them.
 *
 * @module
 */

import { test } from "node:test";
import { setImmediate } from "node:timers";
import assert from "node:assert/strict";
import { BATCH_BYTES } from "../../src/core/batch.ts";
import { CLOSE, FLAG, OPCODE } from "../../src/core/constants.ts";
import { Frame } from "../../src/core/frame.ts";
import { createConnection, fakeContext } from "./fake_link.ts";

/** Resolves after the batch scheduled in this turn has been flushed. */
function turnEnd(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

test("Outbound writes a turn's pushes in one batch, flushed when the turn ends", async () => {
  const { connection, link } = createConnection();
  const pushed = ["a", "b", "c"].map((data) => connection.push(data, OPCODE.TEXT, FLAG.FIN));
  assert.equal(link.corks, 1, "one batch for the turn");
  assert.deepEqual(link.flushedAt, [], "nothing written before the turn ends");
  assert.deepEqual(await Promise.all(pushed), [true, true, true]);
  await turnEnd();
  assert.deepEqual(link.flushedAt, [3]);
  // The next turn opens a batch of its own.
  assert.equal(await connection.push("d", OPCODE.TEXT, FLAG.FIN), true);
  assert.equal(link.corks, 2);
  await turnEnd();
  assert.deepEqual(link.flushedAt, [3, 4]);
  connection.close();
});

test("Outbound writes a batch at once when it reaches BATCH_BYTES", async () => {
  const { connection, link } = createConnection();
  const part = "x".repeat(BATCH_BYTES / 2 - 100);
  connection.push(part, OPCODE.TEXT, FLAG.FIN);
  connection.push(part, OPCODE.TEXT, FLAG.FIN);
  assert.deepEqual(link.flushedAt, [], "below the bound: held");
  connection.push(part, OPCODE.TEXT, FLAG.FIN);
  assert.deepEqual(link.flushedAt, [3], "past the bound: written within the turn");
  connection.push("after", OPCODE.TEXT, FLAG.FIN);
  assert.equal(link.corks, 2, "what follows opens a new batch");
  await turnEnd();
  assert.deepEqual(link.flushedAt, [3, 4]);
  connection.close();
});

test("Outbound flushes what was pushed before a ping, a pong, a Close or the end", () => {
  const pinged = createConnection();
  pinged.connection.push("a", OPCODE.TEXT, FLAG.FIN);
  assert.equal(pinged.connection.ping(new Uint8Array([1])), true);
  assert.deepEqual(pinged.link.flushedAt, [1]);
  assert.deepEqual(pinged.link.types, ["send", "ping"]);
  pinged.connection.close();

  const ponged = createConnection();
  ponged.connection.push("a", OPCODE.TEXT, FLAG.FIN);
  void ponged.connection.push(new Frame(new Uint8Array(0), OPCODE.PONG), OPCODE.PONG, FLAG.FIN);
  assert.deepEqual(ponged.link.flushedAt, [1]);
  assert.deepEqual(ponged.link.types, ["send", "pong"]);
  ponged.connection.close();

  const closed = createConnection();
  closed.connection.push("a", OPCODE.TEXT, FLAG.FIN);
  void closed.connection.disconnect(CLOSE.NORMAL, "bye");
  assert.deepEqual(closed.link.flushedAt, [1]);
  assert.deepEqual(closed.link.types, ["send", "resume", "close"]);
  closed.connection.receiveClose(CLOSE.NORMAL, "bye");

  const ended = createConnection();
  ended.connection.push("a", OPCODE.TEXT, FLAG.FIN);
  ended.connection.close();
  assert.deepEqual(ended.link.flushedAt, [1]);
  assert.deepEqual(ended.link.types, ["send", "resume", "end"]);
});

test("SendBatch flushes the batches of every connection of a context at the turn's end", async () => {
  const context = fakeContext();
  const first = createConnection({ context });
  const second = createConnection({ context });
  first.connection.push("1", OPCODE.TEXT, FLAG.FIN);
  second.connection.push("2", OPCODE.TEXT, FLAG.FIN);
  await turnEnd();
  assert.deepEqual(first.link.flushedAt, [1]);
  assert.deepEqual(second.link.flushedAt, [1]);
  first.connection.close();
  second.connection.close();
});

test("Outbound does not flush a link the runtime has closed", async () => {
  const { connection, link } = createConnection();
  connection.push("a", OPCODE.TEXT, FLAG.FIN);
  connection.receiveClose(CLOSE.ABNORMAL, "");
  await turnEnd();
  assert.deepEqual(link.flushedAt, [], "the socket is gone: nothing to write to");
});

test("Outbound keeps no batch while the link says the runtime holds the writes itself", async () => {
  const { connection, link } = createConnection();
  link.holds = false; // As Bun's link while Bun reads from its socket.
  assert.equal(await connection.push("a", OPCODE.TEXT, FLAG.FIN), true);
  assert.equal(await connection.push("b", OPCODE.TEXT, FLAG.FIN), true);
  assert.deepEqual(link.sent, [["a", true], ["b", true]], "sent at once, in order");
  assert.equal(link.corks, 2, "asked again at each send: no batch was opened");
  // Once the runtime stops holding them (another socket's read), a batch opens as before.
  link.holds = true;
  connection.push("c", OPCODE.TEXT, FLAG.FIN);
  assert.equal(link.corks, 3);
  await turnEnd();
  assert.deepEqual(link.flushedAt, [3], "only the batch that was opened is flushed");
  connection.close();
});
