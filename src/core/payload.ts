/**
 * Message payloads as the core handles them: what `push()` takes and `recv()` gives, and the
 * conversions and sizes both ends need.
 *
 * @module
 */

import { concatBytes, type Frame, type FrameData, toBytes } from "./frame.ts";

const decoder = new TextDecoder();

/**
 * What `recv()` gives: a frame, `false` on error or timeout, `""` once the connection closed.
 *
 * @example
 * ```ts
 * import type { RecvResult } from "../../mod.ts";
 * const describe = (result: RecvResult) =>
 *   result === "" ? "closed" : result === false ? "error or timeout" : String(result.data);
 * ```
 */
export type RecvResult = Frame | false | "";

/**
 * What `push()` accepts: a `Frame` (or `CloseFrame`) sends that exact frame.
 *
 * @example
 * ```ts
 * import { Frame, OPCODE, type PushData } from "../../mod.ts";
 * const pings: PushData[] = [new Frame("", OPCODE.PING), "text", new Uint8Array([1])];
 * ```
 */
export type PushData = string | Uint8Array | ArrayBuffer | Frame;

/** The payload as the runtime must send it: a string for text, bytes for binary. */
export function asPayload(data: Exclude<PushData, Frame>, text: boolean): FrameData {
  if (text) return typeof data === "string" ? data : decoder.decode(data);
  return toBytes(data);
}

export function joinPayloads(parts: FrameData[], text: boolean): FrameData {
  if (text) return (parts as string[]).join("");
  return concatBytes(parts as Uint8Array[]);
}

/** Bytes for binary, UTF-16 units for text: cheap, and within 3x of the UTF-8 size. */
export function approximateSize(data: FrameData): number {
  return typeof data === "string" ? data.length : data.byteLength;
}

/** The UTF-8 length of a string, without encoding it. */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0x80) bytes += unit >= 0x800 && (unit < 0xd800 || unit > 0xdfff) ? 2 : 1;
  }
  return bytes;
}

/** The size on the wire: bytes for binary, UTF-8 bytes for text (what metrics count). */
export function byteLength(data: FrameData): number {
  return typeof data === "string" ? utf8Length(data) : data.byteLength;
}
