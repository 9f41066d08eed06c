/**
 * The argument checks that `recv()` and `push()` share on the server's `Response` and the
 * `Client`: a wrong argument from user code is a `TypeError` that says what to pass instead.
 *
 * @module
 */

import { Frame } from "./frame.ts";

/**
 * Refuses a `recv()` timeout that is not a number, for the server's and the client's `recv()`.
 *
 * @throws {TypeError} for anything but a number, or NaN
 */
export function assertTimeout(timeout: unknown): void {
  if (typeof timeout !== "number" || Number.isNaN(timeout)) {
    throw new TypeError(
      `Cannot recv(${describe(timeout)}): pass a timeout in seconds (0: socket_read_timeout, ` +
        "< 0 or Infinity: forever)",
    );
  }
}

/**
 * Refuses what `push()` cannot send, for the server's and the client's `push()`.
 *
 * @throws {TypeError} for anything but a string, Uint8Array, ArrayBuffer or Frame
 */
export function assertPushData(data: unknown): void {
  if (
    typeof data !== "string" && !(data instanceof Uint8Array) &&
    !(data instanceof ArrayBuffer) && !(data instanceof Frame)
  ) {
    throw new TypeError(
      `Cannot push(${describe(data)}): pass a string, Uint8Array, ArrayBuffer or Frame`,
    );
  }
}

/** A value as an error message shows it. */
export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || typeof value !== "object") return String(value);
  return Array.isArray(value) ? "an array" : `a ${value.constructor?.name ?? "object"}`;
}
