/**
 * The client engine's frames (RFC 6455 §5, RFC 7692): the reader that holds a server to the
 * framing rules (no mask, no RSV bits without an extension, control frames short and whole,
 * continuations only inside a message, text that is UTF-8, Close codes a peer may send) and checks
 * a frame's declared length against `maxPayload` before its payload is read, and an inflated
 * message as it inflates; and the writer's masked frames and deflated payloads.
 *
 * @module
 */

import { constants, deflateRawSync, inflateRawSync } from "node:zlib";
import { CLOSE } from "../core/constants.ts";
import { concatBytes } from "../core/frame.ts";

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const DEFLATE_TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);

/** What the reader makes of the server's frames; the engine answers them. */
export interface FrameSink {
  /** A whole message: a string for text, a copy the sink may keep for binary. */
  onMessage(data: string | Uint8Array): void;
  onPing(payload: Uint8Array): void;
  onPong(payload: Uint8Array): void;
  /** A Close frame, checked; `payload` is the frame's (code and reason). */
  onClose(code: number, reason: string, payload: Uint8Array): void;
  /** The server broke a rule: close with `code`. The reader reads no more. */
  onViolation(code: number, what: string): void;
}

interface FrameHead {
  fin: boolean;
  opcode: number;
  length: number;
  payloadAt: number;
}

/** Reads the server's frames from the stream's reads, in order, and hands them to a sink. */
export class FrameReader {
  readonly #sink: FrameSink;
  readonly #maxPayload: number;
  readonly #deflate: boolean;
  #stopped = false;
  #pending: Uint8Array | undefined;
  #frame: FrameHead | undefined;
  #payload: Uint8Array | undefined;
  #filled = 0;
  #parts: Uint8Array[] = [];
  #messageLength = 0;
  #messageOpcode = 0;
  #messageCompressed = false;
  #textDecoder: TextDecoder | undefined;

  /** `deflate`: the server may compress (RSV1), as negotiated. */
  constructor(sink: FrameSink, maxPayload: number, deflate: boolean) {
    this.#sink = sink;
    this.#maxPayload = maxPayload;
    this.#deflate = deflate;
  }

  /** Reads no more, and lets go of what is buffered. */
  stop(): void {
    this.#stopped = true;
    this.#pending = this.#payload = undefined;
    this.#parts = [];
  }

  read(chunk: Uint8Array): void {
    let bytes = chunk;
    if (this.#pending) {
      bytes = join(this.#pending, chunk);
      this.#pending = undefined;
    }
    let offset = 0;
    const length = bytes.length;
    while (offset < length && !this.#stopped) {
      if (this.#payload) {
        // Filling a payload that came in parts.
        const take = Math.min(this.#payload.length - this.#filled, length - offset);
        this.#payload.set(bytes.subarray(offset, offset + take), this.#filled);
        this.#filled += take;
        offset += take;
        if (this.#filled < this.#payload.length) return;
        const payload = this.#payload;
        this.#payload = undefined;
        this.#frameDone(payload, true);
        continue;
      }
      const head = this.#readFrameHead(bytes, offset);
      if (head === undefined) {
        this.#pending = copy(bytes.subarray(offset));
        return;
      }
      if (head === false) return; // A violation: the connection is closing.
      offset = head.payloadAt;
      if (length - offset >= head.length) {
        const end = offset + head.length;
        if (head.fin && head.opcode === 1 && !this.#messageCompressed && end - offset <= 64) {
          // A short text message in one frame, the most common frame of all: decoded from the
          // read itself.
          this.#messageOpcode = 0;
          const text = decodeShortText(bytes, offset, end);
          offset = end;
          if (text === undefined) this.#violate(CLOSE.MESSAGE_ERROR, "text that is not UTF-8");
          else this.#sink.onMessage(text);
          continue;
        }
        const payload = bytes.subarray(offset, end);
        offset = end;
        this.#frameDone(payload, false);
      } else {
        this.#payload = new Uint8Array(head.length);
        this.#filled = 0;
      }
    }
  }

  /** Parses and checks the frame head at `offset`: undefined if incomplete, false if refused. */
  #readFrameHead(bytes: Uint8Array, offset: number): FrameHead | undefined | false {
    const available = bytes.length - offset;
    if (available < 2) return undefined;
    const first = bytes[offset];
    const second = bytes[offset + 1];
    let length = second & 0x7f;
    let payloadAt = offset + 2;
    if (length === 126) {
      if (available < 4) return undefined;
      length = (bytes[offset + 2] << 8) | bytes[offset + 3];
      payloadAt += 2;
    } else if (length === 127) {
      if (available < 10) return undefined;
      const high = ((bytes[offset + 2] << 24) >>> 0) + (bytes[offset + 3] << 16) +
        (bytes[offset + 4] << 8) + bytes[offset + 5];
      const low = ((bytes[offset + 6] << 24) >>> 0) + (bytes[offset + 7] << 16) +
        (bytes[offset + 8] << 8) + bytes[offset + 9];
      length = high * 0x100000000 + low;
      payloadAt += 8;
    }
    const fin = (first & 0x80) !== 0;
    const rsv1 = (first & 0x40) !== 0;
    const opcode = first & 0x0f;
    if ((second & 0x80) !== 0) return this.#violate(CLOSE.PROTOCOL_ERROR, "a masked frame");
    if ((first & 0x30) !== 0) return this.#violate(CLOSE.PROTOCOL_ERROR, "RSV2 or RSV3 set");
    if (opcode >= 0x8) {
      if (opcode > 0xa) return this.#violate(CLOSE.PROTOCOL_ERROR, `opcode ${opcode}`);
      if (!fin || length > 125 || rsv1) {
        return this.#violate(CLOSE.PROTOCOL_ERROR, "a fragmented or long control frame");
      }
    } else if (opcode === 0) {
      if (this.#messageOpcode === 0) {
        return this.#violate(CLOSE.PROTOCOL_ERROR, "a continuation with no message");
      }
      if (rsv1) return this.#violate(CLOSE.PROTOCOL_ERROR, "RSV1 on a continuation");
    } else {
      if (opcode > 2) return this.#violate(CLOSE.PROTOCOL_ERROR, `opcode ${opcode}`);
      if (this.#messageOpcode !== 0) {
        return this.#violate(CLOSE.PROTOCOL_ERROR, "a new message inside a fragmented one");
      }
      if (rsv1 && !this.#deflate) return this.#violate(CLOSE.PROTOCOL_ERROR, "RSV1 set");
      this.#messageOpcode = opcode;
      this.#messageCompressed = rsv1;
      this.#messageLength = 0;
    }
    if (opcode < 0x8) {
      // Checked before a byte of the payload is buffered: a head may claim 2^63 bytes.
      this.#messageLength += length;
      if (this.#messageLength > this.#maxPayload) {
        return this.#violate(CLOSE.MESSAGE_TOO_BIG, "a message over maxPayload");
      }
    }
    const head = this.#frame ??= { fin, opcode, length, payloadAt };
    head.fin = fin;
    head.opcode = opcode;
    head.length = length;
    head.payloadAt = payloadAt;
    return head;
  }

  /** A whole frame's payload; `owned` when the reader allocated it (else it is a view). */
  #frameDone(payload: Uint8Array, owned: boolean): void {
    const { fin, opcode } = this.#frame!;
    if (opcode >= 0x8) return this.#control(opcode, owned ? payload : copy(payload));
    const messageOpcode = this.#messageOpcode;
    if (fin && this.#parts.length === 0) {
      // A message in one frame, the common case.
      this.#messageOpcode = 0;
      return this.#message(messageOpcode, payload, owned);
    }
    if (messageOpcode === 1 && !this.#messageCompressed) {
      // Text in fragments: invalid UTF-8 fails as soon as a fragment shows it.
      this.#textDecoder ??= new TextDecoder("utf-8", { fatal: true });
      try {
        this.#textDecoder.decode(payload, { stream: true });
      } catch {
        this.#textDecoder = undefined;
        return void this.#violate(CLOSE.MESSAGE_ERROR, "text that is not UTF-8");
      }
    }
    this.#parts.push(owned ? payload : copy(payload));
    if (!fin) return;
    const whole = join(...this.#parts);
    this.#parts = [];
    this.#messageOpcode = 0;
    this.#message(messageOpcode, whole, true);
  }

  #message(opcode: number, payload: Uint8Array, owned: boolean): void {
    let bytes = payload;
    if (this.#messageCompressed) {
      this.#messageCompressed = false;
      const inflated = inflate(payload, this.#maxPayload);
      if (typeof inflated === "number") {
        return void this.#violate(
          inflated,
          inflated === CLOSE.MESSAGE_TOO_BIG
            ? "a message inflating past maxPayload"
            : "a message that does not inflate",
        );
      }
      bytes = inflated;
      owned = true;
    }
    if (opcode === 1) {
      let text: string;
      try {
        if (this.#textDecoder) {
          // The fragments were checked as they came; end the check (a truncated character).
          this.#textDecoder.decode();
          this.#textDecoder = undefined;
        }
        text = strictUtf8.decode(bytes);
      } catch {
        this.#textDecoder = undefined;
        return void this.#violate(CLOSE.MESSAGE_ERROR, "text that is not UTF-8");
      }
      this.#sink.onMessage(text);
    } else {
      this.#sink.onMessage(owned ? bytes : copy(bytes));
    }
  }

  #control(opcode: number, payload: Uint8Array): void {
    if (opcode === 0x9) return this.#sink.onPing(payload);
    if (opcode === 0xa) return this.#sink.onPong(payload);
    // Close.
    let code: number = CLOSE.STATUS_ERROR;
    let reason = "";
    if (payload.length === 1) return void this.#violate(CLOSE.PROTOCOL_ERROR, "a 1-byte Close");
    if (payload.length >= 2) {
      code = (payload[0] << 8) | payload[1];
      if (!isReceivableCloseCode(code)) {
        return void this.#violate(CLOSE.PROTOCOL_ERROR, `Close code ${code}`);
      }
      try {
        reason = strictUtf8.decode(payload.subarray(2));
      } catch {
        return void this.#violate(CLOSE.MESSAGE_ERROR, "a Close reason that is not UTF-8");
      }
    }
    this.#sink.onClose(code, reason, payload);
  }

  #violate(code: number, what: string): false {
    if (this.#stopped) return false;
    this.stop();
    this.#sink.onViolation(code, what);
    return false;
  }
}

/**
 * A compressed message's payload inflated, up to `maxPayload` bytes, or the Close code for one
 * that inflates past it or does not inflate.
 */
function inflate(payload: Uint8Array, maxPayload: number): Uint8Array | number {
  let bytes: Uint8Array;
  try {
    bytes = inflateRawSync(join(payload, DEFLATE_TAIL), {
      finishFlush: constants.Z_SYNC_FLUSH,
      maxOutputLength: Math.max(1, maxPayload),
    });
  } catch (error) {
    return (error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE"
      ? CLOSE.MESSAGE_TOO_BIG
      : CLOSE.PROTOCOL_ERROR;
  }
  if (bytes.length > maxPayload) return CLOSE.MESSAGE_TOO_BIG;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A whole message's payload deflated for a frame with RSV1 (RFC 7692 §7.2.1). */
export function deflate(payload: Uint8Array, windowBits: number): Uint8Array {
  const deflated = deflateRawSync(payload, {
    finishFlush: constants.Z_SYNC_FLUSH,
    level: 1,
    memLevel: 4,
    windowBits,
  });
  const bytes = deflated.subarray(0, deflated.length - 4);
  return bytes.length === 0 ? new Uint8Array([0]) : bytes;
}

/** Close codes a peer may send (RFC 6455 §7.4). */
function isReceivableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
}

/** A Close frame's payload: the code, then the reason in UTF-8. */
export function closePayload(code: number, reason: string): Uint8Array {
  const reasonBytes = encoder.encode(reason);
  const payload = new Uint8Array(2 + reasonBytes.length);
  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  payload.set(reasonBytes, 2);
  return payload;
}

/** Masking keys, drawn from the random source 2,048 at a time. */
const keys = new Uint8Array(8192);
let keyAt = keys.length;

/** Where the next masking key starts in `keys`. */
function drawKey(): number {
  if (keyAt + 4 > keys.length) {
    crypto.getRandomValues(keys);
    keyAt = 0;
  }
  keyAt += 4;
  return keyAt - 4;
}

/** A client frame: masked with a fresh key (RFC 6455 §5.3). */
export function maskedFrame(
  opcode: number,
  payload: Uint8Array,
  fin: boolean,
  rsv1: boolean,
): Uint8Array {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 0x10000 ? 2 : 8;
  const at = 2 + lengthBytes + 4;
  const bytes = new Uint8Array(at + length);
  bytes[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  if (lengthBytes === 0) bytes[1] = 0x80 | length;
  else if (lengthBytes === 2) {
    bytes[1] = 0x80 | 126;
    bytes[2] = length >> 8;
    bytes[3] = length & 0xff;
  } else {
    bytes[1] = 0x80 | 127;
    const high = Math.floor(length / 0x100000000);
    bytes[4] = (high >>> 8) & 0xff;
    bytes[5] = high & 0xff;
    bytes[6] = (length >>> 24) & 0xff;
    bytes[7] = (length >>> 16) & 0xff;
    bytes[8] = (length >>> 8) & 0xff;
    bytes[9] = length & 0xff;
  }
  const key = drawKey();
  const k0 = keys[key], k1 = keys[key + 1], k2 = keys[key + 2], k3 = keys[key + 3];
  bytes[at - 4] = k0;
  bytes[at - 3] = k1;
  bytes[at - 2] = k2;
  bytes[at - 1] = k3;
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    bytes[at + i] = payload[i] ^ k0;
    bytes[at + i + 1] = payload[i + 1] ^ k1;
    bytes[at + i + 2] = payload[i + 2] ^ k2;
    bytes[at + i + 3] = payload[i + 3] ^ k3;
  }
  for (; i < length; i++) bytes[at + i] = payload[i] ^ keys[key + (i & 3)];
  return bytes;
}

/**
 * A text frame of up to 125 ASCII characters, masked as it is written from the string: no
 * encoded copy to mask from, for the most common message of all. Undefined for other text.
 */
export function maskedAsciiFrame(
  opcode: number,
  text: string,
  fin: boolean,
): Uint8Array | undefined {
  const length = text.length;
  if (length > 125) return undefined;
  for (let i = 0; i < length; i++) if (text.charCodeAt(i) >= 0x80) return undefined;
  const bytes = new Uint8Array(6 + length);
  bytes[0] = (fin ? 0x80 : 0) | opcode;
  bytes[1] = 0x80 | length;
  const key = drawKey();
  const k0 = keys[key], k1 = keys[key + 1], k2 = keys[key + 2], k3 = keys[key + 3];
  bytes[2] = k0;
  bytes[3] = k1;
  bytes[4] = k2;
  bytes[5] = k3;
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    bytes[6 + i] = text.charCodeAt(i) ^ k0;
    bytes[7 + i] = text.charCodeAt(i + 1) ^ k1;
    bytes[8 + i] = text.charCodeAt(i + 2) ^ k2;
    bytes[9 + i] = text.charCodeAt(i + 3) ^ k3;
  }
  for (; i < length; i++) bytes[6 + i] = text.charCodeAt(i) ^ keys[key + (i & 3)];
  return bytes;
}

/**
 * Char codes for `String.fromCharCode.apply`, one array per length up to 64, reused: short
 * ASCII text is made from them without a view of the read. On Bun a read's `Uint8Array` has no
 * `ArrayBuffer` until one is asked for, and the first `subarray()` (or `.buffer`) makes it, at
 * 1-3 µs a read (14% of the samples of a profile of the client echoing short messages); on Deno
 * `fromCharCode` takes 120-270 ns for 12-34 bytes where the decoder's call into Rust takes
 * 400-650 ns. One string from one call, not characters concatenated: those make ropes that the
 * core's UTF-8 count then flattens, at twice the cost.
 */
const CHAR_CODES = Array.from({ length: 65 }, (_, length) => new Array<number>(length).fill(0));

/** Decodes `bytes[start, end)` (at most 64 bytes) as strict UTF-8, or undefined if it is not. */
function decodeShortText(bytes: Uint8Array, start: number, end: number): string | undefined {
  const codes = CHAR_CODES[end - start];
  let i = 0;
  for (; i < codes.length; i++) {
    const byte = bytes[start + i];
    if (byte >= 0x80) break;
    codes[i] = byte;
  }
  if (i === codes.length) return String.fromCharCode.apply(null, codes);
  try {
    return strictUtf8.decode(bytes.subarray(start, end));
  } catch {
    return undefined;
  }
}

/**
 * A copy as a plain `Uint8Array`: what the reader keeps of a read (the adapter may reuse its
 * buffer), and binary messages are never Node `Buffer`s (whose `slice()` is a view, not a copy).
 */
function copy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function join(...parts: Uint8Array[]): Uint8Array {
  return parts.length === 1 ? parts[0] : concatBytes(parts);
}
