/**
 * Unit tests of the runtime-free core: a {@link WebSocketConnection} driven by hand through a
 * {@link FakeLink}, with no sockets.
 */

import { test } from "node:test";
import { setImmediate } from "node:timers";
import assert from "node:assert/strict";
import { utf8Length } from "../../src/core/payload.ts";
import { CLOSE, ERROR, FLAG, OPCODE } from "../../src/core/constants.ts";
import { ConcurrencyError, lastError, setLastError } from "../../src/core/errors.ts";
import { CloseFrame, Frame } from "../../src/core/frame.ts";
import {
  BUN_LIKE,
  createConnection,
  DENO_LIKE,
  FakeLink,
  NODE_LIKE,
  peek,
  PENDING,
  sleep,
} from "./fake_link.ts";

const encoder = new TextEncoder();

/** Asserts that `result` is a frame and returns it. */
function asFrame(result: unknown): Frame {
  assert.ok(result instanceof Frame, `expected a Frame, got ${String(result)}`);
  return result;
}

// ---- recv() ----

test("WebSocketConnection.recv() returns queued frames in order with their fd", async () => {
  const { connection } = createConnection({ fd: 42 });
  connection.receiveMessage("first");
  connection.receiveMessage(new Uint8Array([1, 2, 3]));
  connection.receiveMessage("third");

  const first = asFrame(await connection.recv(-1));
  assert.equal(first.data, "first");
  assert.equal(first.opcode, OPCODE.TEXT);
  assert.equal(first.fd, 42);
  assert.equal(first.finish, true);

  const second = asFrame(await connection.recv(-1));
  assert.ok(second.data instanceof Uint8Array);
  assert.deepEqual([...second.data], [1, 2, 3]);
  assert.equal(second.opcode, OPCODE.BINARY);
  assert.equal(second.fd, 42);

  const third = asFrame(await connection.recv(-1));
  assert.equal(third.data, "third");
  assert.equal(third.fd, 42);
  connection.close();
});

test("WebSocketConnection.recv() waits, then resolves when a message arrives", async () => {
  const { connection } = createConnection({ fd: 3 });
  const pending = connection.recv(-1);
  assert.equal(await peek(pending), PENDING);
  connection.receiveMessage("late");
  const frame = asFrame(await pending);
  assert.equal(frame.data, "late");
  assert.equal(frame.opcode, OPCODE.TEXT);
  assert.equal(frame.fd, 3);
  connection.close();
});

test("WebSocketConnection.recv() times out with ERROR.TIMEOUT and loses no message", async () => {
  const { connection, clock } = createConnection();
  setLastError(ERROR.NONE);
  const timingOut = connection.recv(0.05);
  clock.advance(49);
  assert.equal(await peek(timingOut), PENDING);
  clock.advance(1);
  assert.equal(await timingOut, false);
  assert.equal(connection.failure.code, ERROR.TIMEOUT);
  assert.equal(connection.failure.code, 110);
  assert.equal(lastError(), ERROR.TIMEOUT);
  assert.equal(connection.isOpen, true);

  // A message that arrives between two recv() calls waits in the queue.
  connection.receiveMessage("kept");
  const frame = asFrame(await connection.recv(0.05));
  assert.equal(frame.data, "kept");
  assert.equal(clock.pending, 0, "no timer for a recv() a queued message answered");
  // And a new recv() after a timeout may wait again (no leftover waiter).
  const next = connection.recv(-1);
  connection.receiveMessage("next");
  assert.equal(asFrame(await next).data, "next");
  connection.close();
});

test("WebSocketConnection.recv() with timeout 0 uses the socket_read_timeout setting", async () => {
  const { connection, clock } = createConnection({ settings: { socket_read_timeout: 0.05 } });
  setLastError(ERROR.NONE);
  const timingOut = connection.recv(0);
  clock.advance(49);
  assert.equal(await peek(timingOut), PENDING, "recv(0) waits socket_read_timeout");
  clock.advance(1);
  assert.equal(await timingOut, false);
  assert.equal(connection.failure.code, ERROR.TIMEOUT);
  assert.equal(lastError(), ERROR.TIMEOUT);
  // A negative timeout still waits forever.
  const forever = connection.recv(-1);
  assert.equal(clock.pending, 0);
  clock.advance(3_600_000);
  assert.equal(await peek(forever), PENDING);
  connection.receiveMessage("x");
  assert.equal(asFrame(await forever).data, "x");
  connection.close();
});

test("WebSocketConnection.recv() with timeout 0 and the default setting waits forever", async () => {
  const { connection, clock } = createConnection();
  const pending = connection.recv(0);
  assert.equal(clock.pending, 0, "no timer");
  clock.advance(3_600_000);
  assert.equal(await peek(pending), PENDING);
  connection.receiveMessage("finally");
  assert.equal(asFrame(await pending).data, "finally");
  connection.close();
});

test("WebSocketConnection.recv() rejects with ConcurrencyError while another recv() waits", async () => {
  const { connection } = createConnection();
  const first = connection.recv(-1);
  await assert.rejects(connection.recv(-1), ConcurrencyError);
  await assert.rejects(connection.recv(0.05), { name: "ConcurrencyError" });
  await assert.rejects(connection.next(), ConcurrencyError);
  connection.receiveMessage("only");
  assert.equal(asFrame(await first).data, "only");
  // Once the first has resolved, recv() may be called again.
  connection.receiveMessage("again");
  assert.equal(asFrame(await connection.recv(-1)).data, "again");
  connection.close();
});

test("WebSocketConnection.recv() waits forever for Infinity or a timeout past the longest timer", async () => {
  const { connection, clock } = createConnection();
  for (const timeout of [Infinity, 2 ** 31, 1e12]) {
    const waiting = connection.recv(timeout);
    assert.equal(clock.pending, 0, `no timer for recv(${timeout})`);
    assert.equal(await peek(waiting), PENDING, `recv(${timeout})`);
    connection.receiveMessage("late");
    assert.equal(asFrame(await waiting).data, "late");
  }
  connection.close();
});

test("WebSocketConnection.recv() drains queued messages after receiveClose(), then returns ''", async () => {
  const { connection, closed } = createConnection();
  connection.receiveMessage("a");
  connection.receiveMessage("b");
  connection.receiveClose(CLOSE.NORMAL, "bye");
  assert.equal(connection.isOpen, false);
  assert.deepEqual(closed, [connection]);
  assert.equal(asFrame(await connection.recv(-1)).data, "a");
  assert.equal(asFrame(await connection.recv(-1)).data, "b");
  assert.equal(await connection.recv(-1), "");
  assert.equal(await connection.recv(0.05), "");
  // Messages after the close are dropped.
  connection.receiveMessage("late");
  assert.equal(await connection.recv(-1), "");
});

test("WebSocketConnection.recv() returns '' to a waiting recv() when the peer closes", async () => {
  const { connection } = createConnection();
  const pending = connection.recv(-1);
  connection.receiveClose(CLOSE.GOING_AWAY, "");
  assert.equal(await pending, "");
});

test("WebSocketConnection.recv() returns the CloseFrame before '' with open_websocket_close_frame", async () => {
  const { connection } = createConnection({
    fd: 9,
    settings: { open_websocket_close_frame: true },
  });
  connection.receiveMessage("last words");
  connection.receiveClose(4000, "done");
  assert.equal(asFrame(await connection.recv(-1)).data, "last words");
  const close = await connection.recv(-1);
  assert.ok(close instanceof CloseFrame);
  assert.equal(close.code, 4000);
  assert.equal(close.reason, "done");
  assert.equal(close.opcode, OPCODE.CLOSE);
  assert.equal(close.fd, 9);
  assert.equal(await connection.recv(-1), "");
});

test("WebSocketConnection.recv() gives a waiting recv() the CloseFrame with open_websocket_close_frame", async () => {
  const { connection } = createConnection({ settings: { open_websocket_close_frame: true } });
  const pending = connection.recv(-1);
  connection.receiveClose(CLOSE.GOING_AWAY, "away");
  const close = await pending;
  assert.ok(close instanceof CloseFrame);
  assert.equal(close.code, 1001);
  assert.equal(close.reason, "away");
  assert.equal(await connection.recv(-1), "");
});

test("WebSocketConnection.receiveClose() of a drop (1006) yields no CloseFrame and sets CONNECTION_RESET", async () => {
  const { connection, closed } = createConnection({
    settings: { open_websocket_close_frame: true },
  });
  connection.receiveClose(CLOSE.ABNORMAL, "");
  assert.equal(await connection.recv(-1), "");
  assert.equal(closed.length, 1);
  assert.equal(connection.failure.code, ERROR.CONNECTION_RESET);
  assert.equal(connection.closedBy, "peer");

  // A Close frame without a status (1005) is a clean close and is delivered.
  const third = createConnection({ settings: { open_websocket_close_frame: true } });
  third.connection.receiveClose(CLOSE.STATUS_ERROR, "");
  const close = await third.connection.recv(-1);
  assert.ok(close instanceof CloseFrame);
  assert.equal(close.code, 1005);
});

test("WebSocketConnection.receiveClose() twice calls onClosed once", () => {
  const { connection, closed, link } = createConnection();
  connection.receiveClose(CLOSE.NORMAL, "");
  connection.receiveClose(0, "");
  assert.equal(closed.length, 1);
  assert.equal(closed[0], connection);
  assert.equal(connection.close(), false);
  assert.equal(closed.length, 1);
  assert.deepEqual(link.calls, []);
});

test("WebSocketConnection.recv() skips pings and pongs by default", async () => {
  const { connection } = createConnection();
  connection.receivePing(new Uint8Array([1]));
  connection.receivePong(new Uint8Array([2]));
  connection.receiveMessage("data");
  const frame = asFrame(await connection.recv(-1));
  assert.equal(frame.opcode, OPCODE.TEXT);
  assert.equal(frame.data, "data");
  assert.equal(await peek(connection.recv(-1)), PENDING);
  connection.close();
});

test("WebSocketConnection.recv() returns pings with open_websocket_ping_frame", async () => {
  const { connection } = createConnection({ fd: 5, settings: { open_websocket_ping_frame: true } });
  connection.receivePong(new Uint8Array([2]));
  connection.receivePing(new Uint8Array([1, 2]));
  const ping = asFrame(await connection.recv(-1));
  assert.equal(ping.opcode, OPCODE.PING);
  assert.deepEqual(ping.data, new Uint8Array([1, 2]));
  assert.equal(ping.fd, 5);
  assert.equal(await peek(connection.recv(-1)), PENDING);
  connection.close();
});

test("WebSocketConnection.recv() returns pongs with open_websocket_pong_frame", async () => {
  const { connection } = createConnection({ settings: { open_websocket_pong_frame: true } });
  connection.receivePing(new Uint8Array([1]));
  connection.receivePong(new Uint8Array([3]));
  const pong = asFrame(await connection.recv(-1));
  assert.equal(pong.opcode, OPCODE.PONG);
  assert.deepEqual(pong.data, new Uint8Array([3]));
  assert.equal(await peek(connection.recv(-1)), PENDING);
  connection.close();
});

// ---- push() ----

test("WebSocketConnection.push() sends at once while the buffer is below websocket_write_limit", async () => {
  const { connection, link } = createConnection({ settings: { websocket_write_limit: 100 } });
  link.bufferedAmount = 99;
  const text = connection.push("hi", OPCODE.TEXT, FLAG.FIN);
  assert.deepEqual(link.sent, [["hi", true]]);
  assert.equal(await text, true);
  const bytes = new Uint8Array([1, 2]);
  assert.equal(await connection.push(bytes, OPCODE.BINARY, FLAG.FIN), true);
  assert.equal(await connection.push(new Uint8Array([3]).buffer, OPCODE.BINARY, FLAG.FIN), true);
  // Text given as bytes is decoded; binary given as a string is encoded.
  assert.equal(await connection.push(encoder.encode("é"), OPCODE.TEXT, FLAG.FIN), true);
  assert.equal(await connection.push("é", OPCODE.BINARY, FLAG.FIN), true);
  assert.deepEqual(link.sent, [
    ["hi", true],
    [new Uint8Array([1, 2]), true],
    [new Uint8Array([3]), true],
    ["é", true],
    [new Uint8Array([0xc3, 0xa9]), true],
  ]);
  assert.equal(link.count("requestDrain"), 0);
  connection.close();
});

test("WebSocketConnection.push() queues above websocket_write_limit until receiveDrain()", async () => {
  const { connection, link } = createConnection({ settings: { websocket_write_limit: 100 } });
  link.bufferedAmount = 100;
  const first = connection.push("a", OPCODE.TEXT, FLAG.FIN);
  const second = connection.push("b", OPCODE.TEXT, FLAG.FIN);
  assert.deepEqual(link.sent, []);
  assert.equal(link.count("requestDrain"), 1);
  assert.equal(await peek(first), PENDING);
  assert.equal(await peek(second), PENDING);

  // A drain while the buffer is still full sends nothing and asks again.
  connection.receiveDrain();
  assert.deepEqual(link.sent, []);
  assert.equal(link.count("requestDrain"), 2);
  assert.equal(await peek(first), PENDING);

  // Below the limit, but with pushes waiting: a new push waits behind them.
  link.bufferedAmount = 0;
  const third = connection.push("c", OPCODE.TEXT, FLAG.FIN);
  assert.deepEqual(link.sent, []);

  connection.receiveDrain();
  assert.deepEqual(link.sent, [["a", true], ["b", true], ["c", true]]);
  assert.equal(await first, true);
  assert.equal(await second, true);
  assert.equal(await third, true);
  assert.equal(link.count("requestDrain"), 2);
  connection.close();
});

test("WebSocketConnection.push() keeps the call order of several concurrent tasks", async () => {
  const { connection, link } = createConnection({ settings: { websocket_write_limit: 10 } });
  const order: string[] = [];
  const task = async (name: string) => {
    for (let i = 0; i < 4; i++) {
      const data = `${name}${i}`;
      order.push(data);
      assert.equal(await connection.push(data, OPCODE.TEXT, FLAG.FIN), true);
    }
  };
  const tasks = Promise.all([task("a"), task("b"), task("c")]);
  // Alternate between a full and an empty buffer while the tasks run.
  let done = false;
  void tasks.then(() => done = true);
  for (let round = 0; !done && round < 50; round++) {
    link.bufferedAmount = round % 2 === 0 ? 10 : 0;
    await sleep(1);
    link.bufferedAmount = 0;
    connection.receiveDrain();
    await sleep(1);
  }
  await tasks;
  assert.equal(order.length, 12);
  assert.ok(link.count("requestDrain") > 0, "some pushes should have waited");
  assert.deepEqual(link.sent.map(([data]) => data), order);
  connection.close();
});

test("WebSocketConnection.push() resolves false with 8503 after the connection closed", async () => {
  const { connection, link } = createConnection();
  connection.close();
  setLastError(ERROR.NONE);
  assert.equal(await connection.push("x", OPCODE.TEXT, FLAG.FIN), false);
  assert.equal(connection.failure.code, ERROR.WEBSOCKET_UNCONNECTED);
  assert.equal(connection.failure.code, 8503);
  assert.equal(lastError(), 8503);
  assert.equal(await connection.push(new Frame("y"), OPCODE.TEXT, FLAG.FIN), false);
  assert.equal(await connection.push(new Frame("", OPCODE.PONG), OPCODE.TEXT, FLAG.FIN), false);
  assert.equal(connection.failure.code, 8503);
  assert.deepEqual(link.sent, []);

  const peerClosed = createConnection();
  peerClosed.connection.receiveClose(CLOSE.NORMAL, "");
  assert.equal(await peerClosed.connection.push("x", OPCODE.TEXT, FLAG.FIN), false);
  assert.equal(peerClosed.connection.failure.code, 8503);
});

test("WebSocketConnection.push() resolves waiting pushes false when the connection closes", async () => {
  const { connection, link } = createConnection({ settings: { websocket_write_limit: 1 } });
  link.bufferedAmount = 1;
  const first = connection.push("a", OPCODE.TEXT, FLAG.FIN);
  const second = connection.push(new Uint8Array([1]), OPCODE.BINARY, FLAG.FIN);
  assert.equal(await peek(first), PENDING);
  connection.receiveClose(CLOSE.ABNORMAL, "");
  assert.equal(await first, false);
  assert.equal(await second, false);
  link.bufferedAmount = 0;
  connection.receiveDrain();
  assert.deepEqual(link.sent, []);
});

test("WebSocketConnection.push() resolves waiting pushes false on disconnect()", async () => {
  const { connection, link } = createConnection({ settings: { websocket_write_limit: 1 } });
  link.bufferedAmount = 1;
  const waiting = connection.push("a", OPCODE.TEXT, FLAG.FIN);
  const closing = connection.disconnect(CLOSE.NORMAL, "");
  assert.equal(await waiting, false);
  connection.receiveClose(CLOSE.NORMAL, "");
  assert.equal(await closing, true);
  assert.deepEqual(link.sent, []);
});

test("WebSocketConnection.push() sends real fragments on a fragments-capable link", async () => {
  const { connection, link } = createConnection({ capabilities: NODE_LIKE });
  assert.equal(await connection.push("he", OPCODE.TEXT, 0), true);
  assert.deepEqual(link.sent, [["he", false]]);
  assert.equal(await connection.push("l", OPCODE.CONTINUATION, 0), true);
  assert.equal(await connection.push("lo", OPCODE.CONTINUATION, FLAG.FIN), true);
  assert.equal(await connection.push(new Uint8Array([1]), OPCODE.BINARY, 0), true);
  assert.equal(await connection.push(new Uint8Array([2, 3]), OPCODE.CONTINUATION, FLAG.FIN), true);
  assert.deepEqual(link.sent, [
    ["he", false],
    ["l", false],
    ["lo", true],
    [new Uint8Array([1]), false],
    [new Uint8Array([2, 3]), true],
  ]);
  connection.close();
});

test("WebSocketConnection.push() joins fragments into one message on a link without fragments", async () => {
  for (const capabilities of [DENO_LIKE, BUN_LIKE]) {
    const { connection, link } = createConnection({ capabilities });
    assert.equal(await connection.push("he", OPCODE.TEXT, 0), true);
    assert.equal(await connection.push("l", OPCODE.CONTINUATION, 0), true);
    assert.equal(link.sent.length, 0, capabilities.runtime);
    assert.equal(await connection.push("lo", OPCODE.CONTINUATION, FLAG.FIN), true);
    assert.deepEqual(link.sent, [["hello", true]], capabilities.runtime);

    assert.equal(await connection.push(new Uint8Array([1, 2]), OPCODE.BINARY, 0), true);
    assert.equal(await connection.push(new Uint8Array([3]), OPCODE.CONTINUATION, 0), true);
    assert.equal(
      await connection.push(new Uint8Array([4, 5]), OPCODE.CONTINUATION, FLAG.FIN),
      true,
    );
    assert.deepEqual(link.sent, [["hello", true], [new Uint8Array([1, 2, 3, 4, 5]), true]]);
    assert.ok(link.sent.every(([, fin]) => fin), capabilities.runtime);
    connection.close();
  }
});

test("WebSocketConnection.push() holds another task's message until the fragmented one ends", async () => {
  for (const capabilities of [NODE_LIKE, DENO_LIKE]) {
    const { connection, link } = createConnection({ capabilities });
    assert.equal(await connection.push("a1", OPCODE.TEXT, 0), true);
    const other = connection.push(new Uint8Array([9]), OPCODE.BINARY, FLAG.FIN);
    const text = connection.push("other", OPCODE.TEXT, FLAG.FIN);
    assert.equal(await peek(other), PENDING);
    assert.deepEqual(link.sent, capabilities.fragments ? [["a1", false]] : []);
    assert.equal(await connection.push("a2", OPCODE.CONTINUATION, FLAG.FIN), true);
    assert.equal(await other, true);
    assert.equal(await text, true);
    assert.deepEqual(
      link.sent,
      capabilities.fragments
        ? [["a1", false], ["a2", true], [new Uint8Array([9]), true], ["other", true]]
        : [["a1a2", true], [new Uint8Array([9]), true], ["other", true]],
      capabilities.runtime,
    );
    connection.close();
  }
});

test("WebSocketConnection.push() starts another task's fragmented message after the open one", async () => {
  // Task A has a fragmented message open when task B starts its own: B's first fragment is
  // held back, and B's continuation must still be accepted once A's message has ended.
  for (const capabilities of [NODE_LIKE, DENO_LIKE]) {
    const { connection, link } = createConnection({ capabilities });
    try {
      assert.equal(await connection.push("a1", OPCODE.TEXT, 0), true);
      const b1 = connection.push("b1", OPCODE.TEXT, 0);
      assert.equal(await connection.push("a2", OPCODE.CONTINUATION, FLAG.FIN), true);
      assert.equal(await b1, true);
      assert.equal(await connection.push("b2", OPCODE.CONTINUATION, FLAG.FIN), true);
      assert.deepEqual(
        link.sent,
        capabilities.fragments
          ? [["a1", false], ["a2", true], ["b1", false], ["b2", true]]
          : [["a1a2", true], ["b1b2", true]],
        capabilities.runtime,
      );
    } finally {
      connection.close();
    }
  }
});

test("WebSocketConnection.push() throws RangeError for a continuation with no open message", async () => {
  const { connection, link } = createConnection();
  assert.throws(() => connection.push("x", OPCODE.CONTINUATION, FLAG.FIN), RangeError);
  assert.equal(await connection.push("a", OPCODE.TEXT, 0), true);
  assert.equal(await connection.push("b", OPCODE.CONTINUATION, FLAG.FIN), true);
  // The message ended with the last fragment.
  assert.throws(() => connection.push("c", OPCODE.CONTINUATION, 0), RangeError);
  // Control opcodes cannot be pushed as raw data.
  assert.throws(() => connection.push("p", OPCODE.PING, FLAG.FIN), RangeError);
  assert.throws(() => connection.push("c", OPCODE.CLOSE, FLAG.FIN), RangeError);
  assert.deepEqual(link.sent, [["a", false], ["b", true]]);
  connection.close();
});

test("WebSocketConnection.push() of a ping Frame pings on a capable link", async () => {
  const { connection, link } = createConnection({ capabilities: NODE_LIKE });
  assert.equal(await connection.push(new Frame("x", OPCODE.PING), OPCODE.TEXT, FLAG.FIN), true);
  assert.equal(await connection.push(new Frame("y", OPCODE.PONG), OPCODE.TEXT, FLAG.FIN), true);
  assert.deepEqual(link.calls, [
    { type: "ping", data: new Uint8Array([0x78]) },
    { type: "pong", data: new Uint8Array([0x79]) },
  ]);
  connection.close();
});

test("WebSocketConnection.push() of a ping Frame fails with 8502 on a link without control frames", async () => {
  const { connection, link } = createConnection({ capabilities: DENO_LIKE });
  setLastError(ERROR.NONE);
  assert.equal(await connection.push(new Frame("x", OPCODE.PING), OPCODE.TEXT, FLAG.FIN), false);
  assert.equal(connection.failure.code, ERROR.WEBSOCKET_BAD_OPCODE);
  assert.equal(connection.failure.code, 8502);
  assert.equal(lastError(), 8502);
  connection.failure.code = ERROR.NONE;
  assert.equal(await connection.push(new Frame("y", OPCODE.PONG), OPCODE.TEXT, FLAG.FIN), false);
  assert.equal(connection.failure.code, 8502);
  assert.deepEqual(link.calls, []);
  assert.equal(connection.isOpen, true);
  connection.close();
});

test("WebSocketConnection.push() of a data Frame uses its opcode and finish flag", async () => {
  const { connection, link } = createConnection();
  const binary = new Frame(new Uint8Array([7]), OPCODE.BINARY);
  assert.equal(await connection.push(binary, OPCODE.TEXT, 0), true);
  assert.equal(
    await connection.push(new Frame("f", OPCODE.TEXT, 0), OPCODE.BINARY, FLAG.FIN),
    true,
  );
  assert.equal(
    await connection.push(new Frame("g", OPCODE.CONTINUATION), OPCODE.TEXT, 0),
    true,
  );
  assert.deepEqual(link.sent, [[new Uint8Array([7]), true], ["f", false], ["g", true]]);
  connection.close();
});

test("WebSocketConnection.push() of a CloseFrame disconnects with its code and reason", async () => {
  const { connection, link } = createConnection();
  const closing = connection.push(new CloseFrame(4001, "bye"), OPCODE.TEXT, FLAG.FIN);
  assert.deepEqual(link.closes, [[4001, "bye"]]);
  connection.receiveClose(4001, "bye");
  assert.equal(await closing, true);
  assert.throws(() => connection.push(new CloseFrame(1005), OPCODE.TEXT, FLAG.FIN), RangeError);
});

test("WebSocketConnection.ping() pings on a capable link and fails with 8502 or 8503 otherwise", () => {
  const node = createConnection({ capabilities: NODE_LIKE });
  assert.equal(node.connection.ping("hey"), true);
  assert.deepEqual(node.link.calls, [{ type: "ping", data: encoder.encode("hey") }]);
  node.connection.close();
  assert.equal(node.connection.ping("again"), false);
  assert.equal(node.connection.failure.code, ERROR.WEBSOCKET_UNCONNECTED);

  const deno = createConnection({ capabilities: DENO_LIKE });
  assert.equal(deno.connection.ping(new Uint8Array([1])), false);
  assert.equal(deno.connection.failure.code, ERROR.WEBSOCKET_BAD_OPCODE);
  assert.deepEqual(deno.link.calls, []);
  deno.connection.close();
});

// ---- close() and disconnect() ----

test("WebSocketConnection.close() ends the link once, reading, then returns false", async () => {
  const { connection, link, closed } = createConnection();
  const waiting = connection.recv(-1);
  assert.equal(connection.close(), true);
  // Reading resumes first: unread input would make the kernel reset the connection.
  assert.deepEqual(link.types, ["resume", "end"]);
  assert.equal(await waiting, "");
  assert.equal(connection.isOpen, false);
  assert.equal(connection.close(), false);
  assert.equal(link.count("end"), 1);
  assert.equal(await connection.recv(-1), "");
  assert.deepEqual(closed, [connection]);
  // The close the runtime reports for end() is ignored.
  connection.receiveClose(CLOSE.ABNORMAL, "");
  assert.equal(closed.length, 1);
});

test("WebSocketConnection.close() waits for a peer that keeps reading, drops one that stopped", () => {
  const { connection, link, clock } = createConnection({
    settings: { websocket_close_timeout: 0.05 },
  });
  link.bufferedAmount = 3000;
  connection.close();
  for (const left of [2000, 1000, 0]) {
    clock.advance(40);
    link.bufferedAmount = left; // The peer took some within each timeout.
  }
  clock.advance(49); // A whole timeout since the buffer last shrank, less 1 ms.
  assert.equal(link.count("terminate"), 0, "dropped while the peer still read");
  // Empty, and nothing reported the close for a whole timeout: the peer is done or gone.
  clock.advance(50);
  assert.equal(link.count("terminate"), 1);

  const stalled = createConnection({ settings: { websocket_close_timeout: 0.05 } });
  stalled.link.bufferedAmount = 3000;
  stalled.connection.close();
  stalled.clock.advance(49);
  assert.deepEqual(stalled.link.types, ["resume", "end"]);
  stalled.clock.advance(1);
  assert.deepEqual(stalled.link.types, ["resume", "end", "terminate"]);
});

test("WebSocketConnection gives up on a handshake the runtime never opens", async () => {
  const { connection, link, closed, clock } = createConnection({
    open: false,
    settings: { websocket_close_timeout: 0.02 },
  });
  const opening = connection.whenOpen();
  clock.advance(19);
  assert.equal(await peek(opening), PENDING);
  clock.advance(1);
  assert.equal(await opening, false);
  assert.equal(connection.failure.code, ERROR.WEBSOCKET_HANDSHAKE_FAILED);
  assert.deepEqual(closed, [connection]);
  connection.receiveOpen(link); // Too late: dropped.
  assert.deepEqual(link.types, ["terminate"]);

  const opened = createConnection({ open: false, settings: { websocket_close_timeout: 0.02 } });
  const open = opened.connection.whenOpen();
  opened.connection.receiveOpen(opened.link);
  assert.equal(await open, true);
  assert.equal(opened.clock.pending, 0, "the timer stops at open");
  opened.clock.advance(40);
  assert.equal(opened.connection.isOpen, true);
  opened.connection.close();
  opened.connection.receiveClose(CLOSE.ABNORMAL, "");
});

test("WebSocketConnection.close() needs no timer once the runtime reports the close", () => {
  const { connection, link, clock } = createConnection({
    settings: { websocket_close_timeout: 0.02 },
  });
  link.bufferedAmount = 100;
  connection.close();
  connection.receiveClose(CLOSE.ABNORMAL, "");
  assert.equal(clock.pending, 0);
  clock.advance(60);
  assert.equal(link.count("terminate"), 0);
});

test("WebSocketConnection.disconnect() sends a Close and resolves true when the peer's arrives", async () => {
  const { connection, link, closed } = createConnection({
    settings: { open_websocket_close_frame: true },
  });
  const waiting = connection.recv(-1);
  const closing = connection.disconnect(CLOSE.NORMAL, "bye");
  assert.deepEqual(link.calls, [
    { type: "resume" },
    { type: "close", code: 1000, reason: "bye" },
  ]);
  assert.equal(connection.isOpen, false);
  assert.equal(await waiting, "");
  assert.equal(await peek(closing), PENDING);
  assert.equal(connection.disconnect(CLOSE.NORMAL, "again"), closing);
  assert.equal(await connection.push("x", OPCODE.TEXT, FLAG.FIN), false);
  // Messages still in flight from the peer are not delivered.
  connection.receiveMessage("ignored");
  assert.equal(await connection.recv(-1), "");
  assert.equal(closed.length, 0);

  connection.receiveClose(CLOSE.NORMAL, "bye");
  assert.equal(await closing, true);
  assert.deepEqual(closed, [connection]);
  assert.equal(link.count("terminate"), 0);
  assert.equal(link.count("close"), 1);
  // The handler closed first, so no CloseFrame is queued.
  assert.equal(await connection.recv(-1), "");
  assert.equal(await connection.disconnect(CLOSE.NORMAL, ""), false);
});

test("WebSocketConnection.disconnect() terminates after websocket_close_timeout", async () => {
  const { connection, link, closed, clock } = createConnection({
    settings: { websocket_close_timeout: 0.05 },
  });
  const closing = connection.disconnect(CLOSE.GOING_AWAY, "");
  clock.advance(49);
  assert.equal(await peek(closing), PENDING);
  assert.equal(link.count("terminate"), 0);
  clock.advance(1);
  assert.equal(await closing, false, "false: the peer never answered");
  assert.deepEqual(link.types, ["resume", "close", "terminate"]);
  assert.deepEqual(link.closes, [[1001, ""]]);
  assert.deepEqual(closed, [connection]);
});

test("WebSocketConnection.disconnect() resolves when the runtime reports the close inside link.close()", async () => {
  const { connection, link, closed } = createConnection();
  link.onClose = (code, reason) => connection.receiveClose(code, reason);
  assert.equal(await connection.disconnect(4002, "now"), true);
  assert.deepEqual(link.closes, [[4002, "now"]]);
  assert.equal(link.count("terminate"), 0);
  assert.deepEqual(closed, [connection]);
});

test("WebSocketConnection.disconnect() before open closes at once", async () => {
  const { connection, link, closed } = createConnection({ open: false });
  const open = connection.whenOpen();
  assert.equal(await connection.disconnect(CLOSE.NORMAL, ""), true);
  assert.deepEqual(closed, [connection]);
  assert.equal(await open, false);
  connection.receiveOpen(link);
  assert.deepEqual(link.calls, [{ type: "terminate" }]);
});

test("WebSocketConnection.disconnect() throws RangeError for a code or reason that may not be sent", async () => {
  const { connection, link } = createConnection();
  assert.throws(() => connection.disconnect(1005, ""), RangeError);
  assert.throws(() => connection.disconnect(999, ""), RangeError);
  assert.throws(() => connection.disconnect(1006, ""), RangeError);
  assert.throws(() => connection.disconnect(5000, ""), RangeError);
  assert.throws(() => connection.disconnect(CLOSE.NORMAL, "x".repeat(124)), RangeError);
  assert.throws(() => connection.disconnect(CLOSE.NORMAL, "é".repeat(62)), RangeError);
  assert.equal(connection.isOpen, true);
  assert.deepEqual(link.calls, []);

  link.onClose = (code, reason) => connection.receiveClose(code, reason);
  assert.equal(await connection.disconnect(CLOSE.NORMAL, "x".repeat(123)), true);
  assert.deepEqual(link.closes, [[1000, "x".repeat(123)]]);
});

test("WebSocketConnection.receiveOpen() after close() terminates the link", async () => {
  const { connection, link, closed } = createConnection({ open: false });
  assert.equal(connection.isOpen, false);
  assert.equal(connection.close(), true);
  assert.deepEqual(closed, [connection]);
  assert.equal(await connection.whenOpen(), false, "after close()");
  connection.receiveOpen(link);
  assert.deepEqual(link.calls, [{ type: "terminate" }]);
  assert.equal(connection.isOpen, false);
  assert.equal(await connection.push("x", OPCODE.TEXT, FLAG.FIN), false);
});

test("WebSocketConnection.receiveOpen() opens the connection and resolves whenOpen()", async () => {
  const { connection, link } = createConnection({ open: false });
  assert.equal(await connection.recv(-1), "");
  connection.receiveMessage("too early");
  const open = connection.whenOpen();
  connection.receiveOpen(link);
  assert.equal(connection.isOpen, true);
  assert.equal(await open, true);
  assert.deepEqual(link.calls, []);
  assert.equal(await peek(connection.recv(-1)), PENDING);
  connection.close();
});

// ---- limits ----

test("WebSocketConnection.receiveMessage() pauses at websocket_max_queue and resumes at a quarter", async () => {
  const { connection, link } = createConnection({
    capabilities: NODE_LIKE,
    settings: { websocket_max_queue: 8 },
  });
  for (let i = 0; i < 7; i++) connection.receiveMessage(`m${i}`);
  assert.equal(link.count("pause"), 0);
  connection.receiveMessage("m7");
  assert.deepEqual(link.types, ["pause"]);
  connection.receiveMessage("m8"); // The runtime may deliver what it had already read.
  assert.equal(link.count("pause"), 1);

  for (let i = 0; i < 6; i++) assert.equal(asFrame(await connection.recv(-1)).data, `m${i}`);
  assert.equal(link.count("resume"), 0); // 3 left, above 8 / 4
  assert.equal(asFrame(await connection.recv(-1)).data, "m6");
  assert.deepEqual(link.types, ["pause", "resume"]); // 2 left
  assert.equal(asFrame(await connection.recv(-1)).data, "m7");
  assert.equal(asFrame(await connection.recv(-1)).data, "m8");
  assert.equal(link.count("resume"), 1);
  connection.close();
});

test("WebSocketConnection.receiveMessage() pauses when queued bytes reach package_max_length", async () => {
  const { connection, link } = createConnection({
    capabilities: NODE_LIKE,
    settings: { package_max_length: 1000 },
  });
  connection.receiveMessage(new Uint8Array(500));
  assert.equal(link.count("pause"), 0);
  connection.receiveMessage(new Uint8Array(500)); // 2 × (500 + 64) >= 1000
  assert.deepEqual(link.types, ["pause"]);
  await connection.recv(-1);
  assert.equal(link.count("resume"), 0); // 564 left, above 1000 / 4
  await connection.recv(-1);
  assert.deepEqual(link.types, ["pause", "resume"]);
  connection.close();
});

test("WebSocketConnection.receiveMessage() never pauses a link that cannot pause", () => {
  const { connection, link } = createConnection({
    capabilities: DENO_LIKE,
    settings: { websocket_max_queue: 4 },
  });
  for (let i = 0; i < 20; i++) connection.receiveMessage(`m${i}`);
  assert.deepEqual(link.calls, []);
  assert.equal(connection.isOpen, true);
  connection.close();
});

test("WebSocketConnection.receiveMessage() closes with 1008 past its inbound byte bound", async () => {
  const { connection, link, closed } = createConnection({
    capabilities: DENO_LIKE,
    settings: {
      package_max_length: 256 * 1024,
      websocket_max_queue: 16,
      websocket_close_timeout: 0.05,
    },
  });
  // The bound is 4 × (package_max_length + websocket_max_queue × 64) = 1,052,672.
  const message = new Uint8Array(100_000);
  for (let i = 0; i < 10; i++) connection.receiveMessage(message); // 10 × 100,064
  assert.deepEqual(link.calls, []);
  assert.equal(connection.isOpen, true);
  connection.receiveMessage(message); // 1,100,704
  assert.deepEqual(link.closes, [[CLOSE.POLICY_ERROR, "Inbound queue full"]]);
  assert.equal(connection.isOpen, false);
  // The queue is dropped, and the error says why the connection closed.
  assert.equal(await connection.recv(-1), "");
  assert.equal(connection.failure.code, ERROR.QUEUE_FULL);
  connection.receiveClose(CLOSE.POLICY_ERROR, "");
  assert.deepEqual(closed, [connection]);
});

test("WebSocketConnection.receiveMessage() bounds the inbound queue at 1 MiB at least", () => {
  const { connection, link } = createConnection({
    capabilities: DENO_LIKE,
    settings: { package_max_length: 1000, websocket_max_queue: 16 },
  });
  // 4 × (1000 + 16 × 64) = 8,096 would be less than the rest of one read where reading pauses.
  for (let i = 0; i < 1859; i++) connection.receiveMessage(new Uint8Array(500)); // 1,048,476
  assert.deepEqual(link.closes, []);
  connection.receiveMessage(new Uint8Array(500)); // 1,049,040: past 1,048,576
  assert.deepEqual(link.closes, [[CLOSE.POLICY_ERROR, "Inbound queue full"]]);
});

test("WebSocketConnection.receiveMessage() closes with 1009 for a message over package_max_length", async () => {
  const { connection, link, closed } = createConnection({
    capabilities: DENO_LIKE,
    settings: { package_max_length: 1000 },
  });
  connection.receiveMessage(new Uint8Array(1000));
  connection.receiveMessage("é".repeat(500)); // 1000 bytes of UTF-8
  assert.deepEqual(link.calls, []);
  assert.equal((asFrame(await connection.recv(-1)).data as Uint8Array).byteLength, 1000);
  assert.equal(asFrame(await connection.recv(-1)).data, "é".repeat(500));

  const waiting = connection.recv(-1);
  connection.receiveMessage(new Uint8Array(1001));
  assert.deepEqual(link.closes, [[CLOSE.MESSAGE_TOO_BIG, "Message too big"]]);
  assert.equal(connection.isOpen, false);
  assert.equal(await waiting, "");
  connection.receiveClose(CLOSE.MESSAGE_TOO_BIG, "");
  assert.deepEqual(closed, [connection]);
});

test("WebSocketConnection.receiveMessage() measures text in UTF-8 bytes for package_max_length", () => {
  // 501 UTF-16 units, 1002 bytes of UTF-8.
  const { connection, link } = createConnection({
    capabilities: DENO_LIKE,
    settings: { package_max_length: 1000 },
  });
  connection.receiveMessage("é".repeat(501));
  assert.deepEqual(link.closes, [[1009, "Message too big"]]);
  connection.close();

  // 500 UTF-16 units (250 surrogate pairs), 1000 bytes of UTF-8: within the limit.
  const pairs = createConnection({
    capabilities: DENO_LIKE,
    settings: { package_max_length: 1000 },
  });
  pairs.connection.receiveMessage("😀".repeat(250));
  assert.deepEqual(pairs.link.calls, []);
  pairs.connection.receiveMessage("😀".repeat(250) + "a");
  assert.deepEqual(pairs.link.closes, [[1009, "Message too big"]]);
  pairs.connection.close();
});

test("WebSocketConnection.receiveMessage() queues one message of package_max_length under a small limit", async () => {
  // A message within package_max_length is valid however small the limit: queueing it
  // (the handler is busy, not in recv()) must not close the connection with 1008.
  const { connection, link } = createConnection({
    capabilities: DENO_LIKE,
    settings: { package_max_length: 10 },
  });
  try {
    connection.receiveMessage(new Uint8Array(10));
    assert.deepEqual(link.calls, []);
    assert.equal(connection.isOpen, true);
    const frame = asFrame(await connection.recv(-1));
    assert.equal((frame.data as Uint8Array).byteLength, 10);
  } finally {
    connection.close(); // Also stops the close timer of a failed run.
  }
});

test("utf8Length() counts the UTF-8 bytes of a string", () => {
  const long = "x".repeat(70) + "😀\ud800é"; // Measured natively; a lone surrogate is U+FFFD.
  const huge = "é€😀".repeat(30_000); // Past the native encoder's scratch buffer.
  for (
    const text of [
      "",
      "abc",
      "é",
      "€",
      "😀",
      "a\u{7ff}\u{800}\u{ffff}",
      "x😀é€",
      "a\ud800b",
      long,
      huge,
    ]
  ) {
    assert.equal(utf8Length(text), encoder.encode(text).length, JSON.stringify(text));
  }
});

test("FakeLink records calls in order", () => {
  const link = new FakeLink();
  link.send("a", false);
  link.pause();
  link.close(1000, "r");
  assert.deepEqual(link.types, ["send", "pause", "close"]);
  assert.deepEqual(link.sent, [["a", false]]);
  assert.deepEqual(link.closes, [[1000, "r"]]);
});

// ---- websocket_idle_timeout ----

test('WebSocketConnection pings a silent peer, then drops it: recv() returns ""', async () => {
  const { connection, link, closed, clock } = createConnection({
    settings: { websocket_idle_timeout: 0.04 }, // checks every 20 ms
  });
  const receiving = connection.recv(-1);
  // Checks: the first sees the open, the second pings, the third drops.
  clock.advance(20);
  assert.deepEqual(link.types, []);
  clock.advance(20);
  assert.deepEqual(link.types, ["ping"]);
  clock.advance(20);
  assert.equal(await receiving, "");
  assert.deepEqual(link.types, ["ping", "resume", "end"]);
  assert.equal(connection.failure.code, ERROR.TIMEOUT);
  assert.deepEqual(closed, [connection]);
  connection.receiveClose(CLOSE.ABNORMAL, "");
});

test("WebSocketConnection does not count a paused connection as silent", () => {
  const { connection, link, clock } = createConnection({
    settings: { websocket_idle_timeout: 0.04, websocket_max_queue: 2 },
  });
  // The handler does not read: the queue fills and reading pauses, so the runtime hears nothing.
  connection.receiveMessage("a");
  connection.receiveMessage("b");
  assert.equal(link.count("pause"), 1);
  clock.advance(1000);
  assert.equal(connection.isOpen, true);
  assert.ok(!link.types.includes("ping"), link.types.join());
  connection.close();
  connection.receiveClose(CLOSE.ABNORMAL, "");
});

test("WebSocketConnection keeps a peer that answers, and leaves idleness to capable runtimes", () => {
  const { connection, link, clock } = createConnection({
    settings: { websocket_idle_timeout: 0.2 },
  });
  for (let i = 0; i < 15; i++) {
    clock.advance(100);
    connection.receivePong(new Uint8Array(0));
  }
  assert.equal(connection.isOpen, true);
  assert.ok(!link.types.includes("terminate"), link.types.join());
  connection.close();

  const native = createConnection({
    capabilities: BUN_LIKE,
    settings: { websocket_idle_timeout: 0.02 },
  });
  assert.equal(native.clock.pending, 0);
  native.clock.advance(60);
  assert.deepEqual(native.link.types, [], "Bun's own idle timeout does the work");
  native.connection.close();
});

// ---- fairness ----

test("a handler looping over recv() or push() that complete at once still lets I/O run", async () => {
  for (const operation of ["recv", "push"] as const) {
    const { connection } = createConnection();
    const count = 10_000;
    if (operation === "recv") {
      // Bun-like bursts: many messages queued at once (reading is paused past the queue
      // limit, but the messages already read are all delivered).
      for (let i = 0; i < count; i++) connection.receiveMessage("m");
    }
    let ioRan = false;
    setImmediate(() => ioRan = true);
    let before = count;
    for (let i = 0; i < count; i++) {
      if (operation === "recv") await connection.recv(-1);
      else await connection.push("m", OPCODE.TEXT, FLAG.FIN);
      if (ioRan) {
        before = i;
        break;
      }
    }
    assert.ok(before < count, `${operation}: the event loop ran only after the loop ended`);
    connection.close();
  }
});

test("WebSocketConnection.disconnect() after the runtime's own Close for a violation waits for the close", async () => {
  const { connection } = createConnection();
  connection.receiveViolation(CLOSE.MESSAGE_TOO_BIG);
  const closing = connection.disconnect(CLOSE.NORMAL, "");
  assert.ok(closing instanceof Promise, "disconnect() did not return a promise");
  connection.receiveClose(CLOSE.ABNORMAL, "");
  assert.equal(typeof await closing, "boolean");
  assert.equal(connection.closeCode, CLOSE.MESSAGE_TOO_BIG);
  assert.notEqual(connection.closedBy, "peer");
});
