/**
 * WebSocket frames as the handler sees them, and an RFC 6455 codec for tools and tests.
 *
 * @module
 */

import { CLOSE, FLAG, OPCODE, type Opcode } from "./constants.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * What a message carries: text as a string, binary as bytes.
 *
 * @example
 * ```ts
 * import type { FrameData } from "../../mod.ts";
 * const describe = (data: FrameData) =>
 *   typeof data === "string" ? `text: ${data}` : `${data.byteLength} bytes`;
 * describe("hi"); // "text: hi"
 * ```
 */
export type FrameData = string | Uint8Array;

/**
 * One whole WebSocket message (fragments already joined), or a control frame.
 *
 * @example Push a ping frame
 * ```ts
 * import assert from "node:assert/strict";
 * import { Frame, OPCODE } from "../../mod.ts";
 * const ping = new Frame("", OPCODE.PING);
 * assert.equal(ping.opcode, 9);
 * ```
 */
export class Frame {
  /** The connection it came from (`response.fd`); 0 for frames made by the application. */
  fd: number;
  /** The payload: a string for text, bytes otherwise. */
  data: FrameData;
  /** One of {@link OPCODE}. */
  opcode: Opcode;
  /** {@link FLAG} bits. */
  flags: number;
  /** Whether this is the last fragment of its message (always true for received messages). */
  finish: boolean;

  /**
   * Makes a frame, e.g. to push a ping (`new Frame("", OPCODE.PING)`).
   *
   * @param data the payload
   * @param opcode the frame type
   * @param flags {@link FLAG} bits; FIN is taken from them for `finish`
   * @param fd the connection number
   */
  constructor(
    data: FrameData = "",
    opcode: Opcode = OPCODE.TEXT,
    flags: number = FLAG.FIN,
    fd = 0,
  ) {
    this.fd = fd;
    this.data = data;
    this.opcode = opcode;
    this.flags = flags;
    this.finish = (flags & FLAG.FIN) !== 0;
  }

  /**
   * Encodes a frame for the wire. With `FLAG.MASK` in `flags` the payload is masked with a
   * random key, as a client must do.
   *
   * @param frame a {@link Frame} (its own opcode and flags are used) or a payload
   * @param opcode the opcode when `frame` is a payload
   * @param flags {@link FLAG} bits when `frame` is a payload
   * @returns the encoded bytes
   *
   * @example A masked text frame, as a browser sends it
   * ```ts
   * import assert from "node:assert/strict";
   * import { FLAG, Frame, OPCODE } from "../../mod.ts";
   * const bytes = Frame.pack("hi", OPCODE.TEXT, FLAG.FIN | FLAG.MASK);
   * assert.equal(bytes.length, 8); // 2 header + 4 mask + 2 payload
   * ```
   */
  static pack(
    frame: Frame | FrameData,
    opcode: Opcode = OPCODE.TEXT,
    flags: number = FLAG.FIN,
  ): Uint8Array {
    if (frame instanceof Frame) {
      opcode = frame.opcode;
      flags = frame.flags;
    }
    const payload = frame instanceof CloseFrame
      ? encodeClosePayload(frame.code, frame.reason)
      : toBytes(frame instanceof Frame ? frame.data : frame);
    const masked = (flags & FLAG.MASK) !== 0;
    const length = payload.length;
    const lengthBytes = length < 126 ? 0 : length < 0x10000 ? 2 : 8;
    const headerLength = 2 + lengthBytes + (masked ? 4 : 0);
    const bytes = new Uint8Array(headerLength + length);
    bytes[0] = ((flags & FLAG.FIN) ? 0x80 : 0) | ((flags & FLAG.RSV1) ? 0x40 : 0) |
      ((flags & FLAG.RSV2) ? 0x20 : 0) | ((flags & FLAG.RSV3) ? 0x10 : 0) | (opcode & 0x0f);
    const view = new DataView(bytes.buffer);
    if (lengthBytes === 0) bytes[1] = length;
    else if (lengthBytes === 2) {
      bytes[1] = 126;
      view.setUint16(2, length);
    } else {
      bytes[1] = 127;
      view.setBigUint64(2, BigInt(length));
    }
    if (masked) {
      bytes[1] |= 0x80;
      const key = crypto.getRandomValues(new Uint8Array(4));
      bytes.set(key, headerLength - 4);
      for (let i = 0; i < length; i++) bytes[headerLength + i] = payload[i] ^ key[i & 3];
    } else {
      bytes.set(payload, headerLength);
    }
    return bytes;
  }

  /**
   * Decodes one frame from the start of `bytes` (a masked payload is unmasked, and
   * `FLAG.MASK` is kept in `flags`). Text payloads that are not valid UTF-8 are decoded with
   * replacement characters: use {@link decodeFrame} and the raw bytes to check them.
   *
   * @param bytes the encoded frame
   * @returns the frame, or `false` when `bytes` holds no whole frame
   *
   * @example Round trip
   * ```ts
   * import assert from "node:assert/strict";
   * import { Frame, OPCODE } from "../../mod.ts";
   * const frame = Frame.unpack(Frame.pack("hello", OPCODE.TEXT));
   * assert.equal(frame && frame.data, "hello");
   * ```
   */
  static unpack(bytes: Uint8Array): Frame | false {
    return decodeFrame(bytes)?.frame ?? false;
  }
}

/**
 * A Close frame: `recv()` returns one when `open_websocket_close_frame` is set, and `push()`
 * of one closes the connection with its code and reason.
 *
 * @example Close with a custom code
 * ```ts
 * import assert from "node:assert/strict";
 * import { CloseFrame } from "../../mod.ts";
 * const frame = new CloseFrame(4000, "bye");
 * assert.deepEqual([frame.code, frame.reason], [4000, "bye"]);
 * ```
 */
export class CloseFrame extends Frame {
  /** The close code; 1005 (`CLOSE.STATUS_ERROR`) when the frame carried none. */
  code: number;
  /** The close reason, at most 123 bytes of UTF-8. */
  reason: string;

  /**
   * Makes a Close frame, e.g. to push one (`new CloseFrame(1000, "bye")`).
   *
   * @param code the close code
   * @param reason the close reason
   * @param fd the connection number
   */
  constructor(code: number = CLOSE.NORMAL, reason = "", fd = 0) {
    super("", OPCODE.CLOSE, FLAG.FIN, fd);
    this.code = code;
    this.reason = reason;
  }
}

/** A decoded frame with its raw payload and the number of bytes it took. */
export interface DecodedFrame {
  frame: Frame;
  /** The unmasked payload bytes, as they were on the wire. */
  payload: Uint8Array;
  /** How many bytes of the input the frame used. */
  length: number;
}

/**
 * Decodes the frame at `offset`, or returns `undefined` when the bytes there hold no whole
 * frame yet; a stream reader calls it again once more bytes have come.
 *
 * @param bytes the input
 * @param offset where the frame starts
 * @returns the frame, its raw payload and its encoded length
 *
 * @example Read frames from a stream buffer
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeFrame, Frame } from "./frame.ts";
 * const decoded = decodeFrame(Frame.pack("a"));
 * assert.equal(decoded?.length, 3);
 * ```
 */
export function decodeFrame(bytes: Uint8Array, offset = 0): DecodedFrame | undefined {
  if (bytes.length - offset < 2) return undefined;
  const first = bytes[offset];
  const second = bytes[offset + 1];
  const masked = (second & 0x80) !== 0;
  let length = second & 0x7f;
  let position = offset + 2;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (length === 126) {
    if (bytes.length < position + 2) return undefined;
    length = view.getUint16(position);
    position += 2;
  } else if (length === 127) {
    if (bytes.length < position + 8) return undefined;
    length = Number(view.getBigUint64(position));
    position += 8;
  }
  const keyAt = position;
  if (masked) position += 4;
  if (bytes.length < position + length) return undefined;
  const payload = bytes.slice(position, position + length);
  if (masked) {
    for (let i = 0; i < length; i++) payload[i] ^= bytes[keyAt + (i & 3)];
  }
  const opcode = (first & 0x0f) as Opcode;
  const flags = ((first & 0x80) ? FLAG.FIN : 0) | ((first & 0x40) ? FLAG.RSV1 : 0) |
    ((first & 0x20) ? FLAG.RSV2 : 0) | ((first & 0x10) ? FLAG.RSV3 : 0) |
    (masked ? FLAG.MASK : 0);
  let frame: Frame;
  if (opcode === OPCODE.CLOSE) {
    const code = payload.length >= 2 ? (payload[0] << 8) | payload[1] : CLOSE.STATUS_ERROR;
    frame = new CloseFrame(code, decoder.decode(payload.subarray(2)));
    frame.flags = flags;
  } else {
    frame = new Frame(opcode === OPCODE.TEXT ? decoder.decode(payload) : payload, opcode, flags);
  }
  return { frame, payload, length: position + length - offset };
}

/**
 * Checks a close code and reason the way RFC 6455 §7.4 allows an endpoint to send them.
 *
 * @throws {RangeError} when the code may not be sent or the reason is over 123 bytes
 */
export function encodeClosePayload(code: number, reason: string): Uint8Array {
  if (!isSendableCloseCode(code)) {
    throw new RangeError(`Cannot close with code ${code}: use 1000-1003, 1007-1014 or 3000-4999`);
  }
  const reasonBytes = encoder.encode(reason);
  if (reasonBytes.length > 123) {
    throw new RangeError(
      `Cannot close with a reason of ${reasonBytes.length} bytes: the limit is 123`,
    );
  }
  const payload = new Uint8Array(2 + reasonBytes.length);
  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  payload.set(reasonBytes, 2);
  return payload;
}

/** Whether an endpoint may put `code` in a Close frame (RFC 6455 §7.4.1, IANA registry). */
export function isSendableCloseCode(code: number): boolean {
  return Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
      (code >= 3000 && code <= 4999));
}

/** Encodes text as UTF-8 and passes bytes through (an `ArrayBuffer` is viewed, not copied). */
export function toBytes(data: FrameData | ArrayBuffer): Uint8Array {
  if (typeof data === "string") return encoder.encode(data);
  return data instanceof Uint8Array ? data : new Uint8Array(data);
}

/** Joins byte arrays into one. */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const joined = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.byteLength;
  }
  return joined;
}

/**
 * The {@link FLAG} bits of a push's last argument, Swoole's `$flags`: a boolean is the older
 * `$finish`, a number may hold `FLAG.FIN` and `FLAG.COMPRESS`.
 *
 * @throws {TypeError} for anything but a boolean or a number
 * @throws {RangeError} for a number with other bits
 */
export function pushFlags(method: string, value: unknown): number {
  if (typeof value === "boolean") return value ? FLAG.FIN : 0;
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot ${method} with flags ${String(value)}: pass FLAG.FIN, FLAG.COMPRESS, both ` +
        "(FLAG.FIN | FLAG.COMPRESS) or a boolean (finish)",
    );
  }
  if (!Number.isInteger(value) || (value & ~(FLAG.FIN | FLAG.COMPRESS)) !== 0 || value < 0) {
    throw new RangeError(
      `Cannot ${method} with flags ${value}: only FLAG.FIN (1) and FLAG.COMPRESS (2) apply`,
    );
  }
  return value;
}
