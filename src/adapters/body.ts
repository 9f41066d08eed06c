/**
 * Gathers a request body, for every adapter. With a declared length it writes each chunk into
 * one buffer of that size, so the body is held once; a chunked body is joined at the end.
 *
 * @module
 */

import { concatBytes } from "../core/frame.ts";

/** A request body as it arrives. */
export class BodyCollector {
  /** Bytes added so far. */
  size = 0;
  #buffer: Uint8Array | undefined;
  #chunks: Uint8Array[] = [];

  /** @param declared the Content-Length, if the request has one */
  constructor(declared: number | undefined) {
    if (declared !== undefined && declared > 0) this.#buffer = new Uint8Array(declared);
  }

  add(chunk: Uint8Array): void {
    const buffer = this.#buffer;
    // The runtime's parser holds a body to its declared length; anything else is gathered.
    if (buffer && this.size + chunk.byteLength <= buffer.byteLength) buffer.set(chunk, this.size);
    else this.#chunks.push(chunk);
    this.size += chunk.byteLength;
  }

  /** The whole body. */
  bytes(): Uint8Array {
    if (!this.#buffer) return concatBytes(this.#chunks);
    if (this.#chunks.length > 0) return concatBytes([this.#buffer, ...this.#chunks]);
    return this.#buffer.subarray(0, this.size);
  }
}

/**
 * A request's declared body length from its Content-Length header as the runtime gives it:
 * Deno and Bun join a repeated header as "5, 5". Values that agree are one length (RFC 9110
 * §8.6); values that differ, or one that is not a decimal number, are "invalid" (answer 400
 * and close: the body's end cannot be known). Undefined without the header.
 */
export function declaredLength(header: string | undefined): number | "invalid" | undefined {
  if (header === undefined) return undefined;
  const values = header.split(",").map((value) => value.trim());
  if (!values.every((value) => /^\d{1,15}$/.test(value) && value === values[0])) return "invalid";
  return Number(values[0]);
}
