/**
 * Unit tests of the RFC 6455 frame codec: Frame.pack, Frame.unpack, decodeFrame and
 * encodeClosePayload.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { CLOSE, FLAG, OPCODE } from "../../src/core/constants.ts";
import {
  CloseFrame,
  decodeFrame,
  encodeClosePayload,
  Frame,
  isSendableCloseCode,
} from "../../src/core/frame.ts";

const encoder = new TextEncoder();

/** Bytes 0, 1, 2, ... wrapping at 251 (a prime, so the pattern never lines up with a mask). */
function pattern(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = i % 251;
  return bytes;
}

/** Asserts that `result` is a frame and returns it. */
function asFrame(result: Frame | false): Frame {
  assert.ok(result instanceof Frame, "expected a Frame, got false");
  return result;
}

test("Frame.pack() encodes a short unmasked text frame byte for byte", () => {
  assert.deepEqual(
    Frame.pack("Hello", OPCODE.TEXT),
    new Uint8Array([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]),
  );
  assert.deepEqual(
    Frame.pack(new Uint8Array([1, 2]), OPCODE.BINARY),
    new Uint8Array([0x82, 2, 1, 2]),
  );
  assert.deepEqual(Frame.pack("", OPCODE.PING), new Uint8Array([0x89, 0x00]));
  // Without FIN: the first fragment of a text message.
  assert.deepEqual(Frame.pack("a", OPCODE.TEXT, 0), new Uint8Array([0x01, 0x01, 0x61]));
  assert.deepEqual(Frame.pack("b", OPCODE.CONTINUATION), new Uint8Array([0x80, 0x01, 0x62]));
});

test("Frame.pack() uses the frame's own opcode and flags", () => {
  const frame = new Frame(new Uint8Array([9]), OPCODE.PONG, FLAG.FIN);
  assert.deepEqual(Frame.pack(frame, OPCODE.TEXT, 0), new Uint8Array([0x8a, 0x01, 0x09]));
});

test("Frame.unpack() round trips text and binary frames", () => {
  const text = asFrame(Frame.unpack(Frame.pack("héllo 😀", OPCODE.TEXT)));
  assert.equal(text.data, "héllo 😀");
  assert.equal(text.opcode, OPCODE.TEXT);
  assert.equal(text.flags, FLAG.FIN);
  assert.equal(text.finish, true);
  assert.equal(text.fd, 0);

  const binary = asFrame(Frame.unpack(Frame.pack(new Uint8Array([0, 255, 7]), OPCODE.BINARY)));
  assert.ok(binary.data instanceof Uint8Array);
  assert.deepEqual(binary.data, new Uint8Array([0, 255, 7]));
  assert.equal(binary.opcode, OPCODE.BINARY);

  const fragment = asFrame(Frame.unpack(Frame.pack("part", OPCODE.TEXT, 0)));
  assert.equal(fragment.data, "part");
  assert.equal(fragment.finish, false);
  assert.equal(fragment.flags, 0);

  const ping = asFrame(Frame.unpack(Frame.pack(new Frame("p", OPCODE.PING))));
  assert.equal(ping.opcode, OPCODE.PING);
  assert.deepEqual(ping.data, encoder.encode("p"));
});

test("Frame.pack() picks the 7-bit, 16-bit or 64-bit length at 125, 126 and 65536", () => {
  const cases: [number, number, number][] = [
    // payload length, byte 1 (length field), header length
    [0, 0, 2],
    [1, 1, 2],
    [125, 125, 2],
    [126, 126, 4],
    [65535, 126, 4],
    [65536, 127, 10],
    [70000, 127, 10],
  ];
  for (const [length, lengthField, headerLength] of cases) {
    const payload = pattern(length);
    const bytes = Frame.pack(payload, OPCODE.BINARY);
    assert.equal(bytes.length, headerLength + length, `length ${length}`);
    assert.equal(bytes[0], 0x82, `length ${length}`);
    assert.equal(bytes[1], lengthField, `length ${length}`);
    const view = new DataView(bytes.buffer);
    if (headerLength === 4) assert.equal(view.getUint16(2), length);
    if (headerLength === 10) assert.equal(view.getBigUint64(2), BigInt(length));
    assert.deepEqual(bytes.subarray(headerLength), payload, `length ${length}`);

    const frame = asFrame(Frame.unpack(bytes));
    assert.equal(frame.opcode, OPCODE.BINARY);
    assert.deepEqual(frame.data, payload, `length ${length}`);
    const decoded = decodeFrame(bytes);
    assert.equal(decoded?.length, headerLength + length, `length ${length}`);
  }
});

test("Frame.pack() masks the payload with FLAG.MASK and Frame.unpack() unmasks it", () => {
  for (const length of [0, 5, 125, 126, 65535, 65536]) {
    const payload = pattern(length);
    const bytes = Frame.pack(payload, OPCODE.BINARY, FLAG.FIN | FLAG.MASK);
    const headerLength = (length < 126 ? 2 : length < 0x10000 ? 4 : 10) + 4;
    assert.equal(bytes.length, headerLength + length, `length ${length}`);
    assert.equal(bytes[1] & 0x80, 0x80, `mask bit, length ${length}`);
    const key = bytes.subarray(headerLength - 4, headerLength);
    for (let i = 0; i < Math.min(length, 16); i++) {
      assert.equal(bytes[headerLength + i], payload[i] ^ key[i & 3], `byte ${i}`);
    }
    const frame = asFrame(Frame.unpack(bytes));
    assert.equal(frame.flags, FLAG.FIN | FLAG.MASK);
    assert.deepEqual(frame.data, payload, `length ${length}`);
  }
  const text = asFrame(Frame.unpack(Frame.pack("masked text", OPCODE.TEXT, FLAG.FIN | FLAG.MASK)));
  assert.equal(text.data, "masked text");
  assert.equal(text.opcode, OPCODE.TEXT);
});

test("Frame.unpack() unmasks a known masked frame from RFC 6455 §5.7", () => {
  const bytes = new Uint8Array([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
  const frame = asFrame(Frame.unpack(bytes));
  assert.equal(frame.data, "Hello");
  assert.equal(frame.flags, FLAG.FIN | FLAG.MASK);
});

test("Frame.pack() and Frame.unpack() round trip a CloseFrame with code and reason", () => {
  const bytes = Frame.pack(new CloseFrame(4000, "done ✓"));
  assert.equal(bytes[0], 0x88);
  assert.deepEqual(bytes.subarray(2, 4), new Uint8Array([0x0f, 0xa0]));
  const frame = Frame.unpack(bytes);
  assert.ok(frame instanceof CloseFrame);
  assert.equal(frame.code, 4000);
  assert.equal(frame.reason, "done ✓");
  assert.equal(frame.opcode, OPCODE.CLOSE);
  assert.equal(frame.flags, FLAG.FIN);

  const masked = Frame.unpack(Frame.pack(new CloseFrame(CLOSE.GOING_AWAY, "", 0)));
  assert.ok(masked instanceof CloseFrame);
  assert.equal(masked.code, 1001);
  assert.equal(masked.reason, "");

  const maskedFrame = new CloseFrame(CLOSE.NORMAL, "bye");
  maskedFrame.flags = FLAG.FIN | FLAG.MASK;
  const unmasked = Frame.unpack(Frame.pack(maskedFrame));
  assert.ok(unmasked instanceof CloseFrame);
  assert.equal(unmasked.code, 1000);
  assert.equal(unmasked.reason, "bye");
  assert.equal(unmasked.flags, FLAG.FIN | FLAG.MASK);
});

test("Frame.unpack() reads a Close frame without a payload as code 1005", () => {
  const frame = Frame.unpack(new Uint8Array([0x88, 0x00]));
  assert.ok(frame instanceof CloseFrame);
  assert.equal(frame.code, CLOSE.STATUS_ERROR);
  assert.equal(frame.reason, "");
});

test("Frame.pack() refuses a CloseFrame with a code that may not be sent", () => {
  assert.throws(() => Frame.pack(new CloseFrame(CLOSE.STATUS_ERROR)), RangeError);
  assert.throws(() => Frame.pack(new CloseFrame(CLOSE.ABNORMAL)), RangeError);
});

test("Frame.pack() and Frame.unpack() keep the RSV flags", () => {
  for (
    const [flags, first] of [
      [FLAG.FIN | FLAG.RSV1, 0xc1],
      [FLAG.FIN | FLAG.RSV2, 0xa1],
      [FLAG.FIN | FLAG.RSV3, 0x91],
      [FLAG.RSV1 | FLAG.RSV2 | FLAG.RSV3, 0x71],
      [FLAG.FIN | FLAG.RSV1 | FLAG.RSV2 | FLAG.RSV3 | FLAG.MASK, 0xf1],
    ]
  ) {
    const bytes = Frame.pack("x", OPCODE.TEXT, flags);
    assert.equal(bytes[0], first, `flags ${flags}`);
    const frame = asFrame(Frame.unpack(bytes));
    assert.equal(frame.flags, flags, `flags ${flags}`);
    assert.equal(frame.finish, (flags & FLAG.FIN) !== 0);
    assert.equal(frame.data, "x");
  }
});

test("Frame.unpack() returns false for every incomplete prefix", () => {
  const frames = [
    Frame.pack("hello", OPCODE.TEXT),
    Frame.pack(pattern(200), OPCODE.BINARY, FLAG.FIN | FLAG.MASK),
    Frame.pack(pattern(65536), OPCODE.BINARY),
  ];
  for (const bytes of frames) {
    for (const cut of [0, 1, 2, 3, 5, 9, 10, 13, bytes.length - 1]) {
      if (cut >= bytes.length) continue;
      assert.equal(Frame.unpack(bytes.subarray(0, cut)), false, `${cut} of ${bytes.length}`);
      assert.equal(decodeFrame(bytes.subarray(0, cut)), undefined, `${cut} of ${bytes.length}`);
    }
    assert.ok(Frame.unpack(bytes) instanceof Frame);
  }
});

test("decodeFrame() reads consecutive frames at their offsets", () => {
  const first = Frame.pack("one", OPCODE.TEXT);
  const second = Frame.pack(pattern(300), OPCODE.BINARY, FLAG.FIN | FLAG.MASK);
  const third = Frame.pack("", OPCODE.PONG);
  const stream = new Uint8Array(first.length + second.length + third.length);
  stream.set(first, 0);
  stream.set(second, first.length);
  stream.set(third, first.length + second.length);

  const a = decodeFrame(stream, 0);
  assert.ok(a);
  assert.equal(a.length, 5);
  assert.equal(a.frame.data, "one");
  assert.deepEqual(a.payload, encoder.encode("one"));

  const b = decodeFrame(stream, a.length);
  assert.ok(b);
  assert.equal(b.length, 2 + 2 + 4 + 300);
  assert.equal(b.frame.opcode, OPCODE.BINARY);
  assert.deepEqual(b.payload, pattern(300));
  assert.deepEqual(b.frame.data, pattern(300));

  const c = decodeFrame(stream, a.length + b.length);
  assert.ok(c);
  assert.equal(c.length, 2);
  assert.equal(c.frame.opcode, OPCODE.PONG);
  assert.equal(a.length + b.length + c.length, stream.length);

  assert.equal(decodeFrame(stream, stream.length), undefined);
  // Cut inside the second frame: the first still decodes, the second does not yet.
  const partial = stream.subarray(0, first.length + 100);
  assert.equal(decodeFrame(partial, 0)?.length, 5);
  assert.equal(decodeFrame(partial, first.length), undefined);
});

test("decodeFrame() works on a view that does not start at its buffer's start", () => {
  const frame = Frame.pack(pattern(1000), OPCODE.BINARY);
  const backing = new Uint8Array(frame.length + 11);
  backing.set(frame, 7);
  const view = backing.subarray(7, 7 + frame.length);
  const decoded = decodeFrame(view);
  assert.ok(decoded);
  assert.equal(decoded.length, frame.length);
  assert.deepEqual(decoded.payload, pattern(1000));
  // The payload is a copy, not a view of the input.
  decoded.payload[0] = 99;
  assert.equal(view[4], 0);
});

test("decodeFrame() keeps the raw payload of invalid UTF-8 text", () => {
  const bytes = new Uint8Array([0x81, 0x02, 0xc3, 0x28]);
  const decoded = decodeFrame(bytes);
  assert.ok(decoded);
  assert.deepEqual(decoded.payload, new Uint8Array([0xc3, 0x28]));
  assert.equal(decoded.frame.data, "\ufffd(");
});

test("encodeClosePayload() encodes the code big-endian followed by the UTF-8 reason", () => {
  assert.deepEqual(encodeClosePayload(1000, ""), new Uint8Array([0x03, 0xe8]));
  assert.deepEqual(
    encodeClosePayload(4999, "é"),
    new Uint8Array([0x13, 0x87, 0xc3, 0xa9]),
  );
  assert.equal(encodeClosePayload(1000, "x".repeat(123)).length, 125);
  assert.equal(encodeClosePayload(1000, "é".repeat(61) + "x").length, 125);
});

test("encodeClosePayload() throws RangeError for codes that may not be sent", () => {
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 1000.5, NaN]) {
    assert.throws(() => encodeClosePayload(code, ""), RangeError, `code ${code}`);
    assert.equal(isSendableCloseCode(code), false, `code ${code}`);
  }
  for (const code of [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4000, 4999]) {
    assert.equal(encodeClosePayload(code, "").length, 2, `code ${code}`);
    assert.equal(isSendableCloseCode(code), true, `code ${code}`);
  }
});

test("encodeClosePayload() throws RangeError for a reason over 123 bytes", () => {
  assert.throws(() => encodeClosePayload(1000, "x".repeat(124)), RangeError);
  assert.throws(() => encodeClosePayload(1000, "é".repeat(62)), {
    name: "RangeError",
    message: /124 bytes/,
  });
});
