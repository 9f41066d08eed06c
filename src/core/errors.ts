/**
 * Error classes and the module-wide last error, as Swoole's `swoole_last_error()`.
 *
 * @module
 */

import { ERROR } from "./constants.ts";

let lastErrorCode: number = ERROR.NONE;

/**
 * The code of the last failed operation on any connection (Swoole's `swoole_last_error()`):
 * one of {@link ERROR}.
 *
 * @returns the error code, 0 when nothing has failed yet
 *
 * @example
 * ```ts
 * import { ERROR, lastError } from "../../mod.ts";
 * if (lastError() === ERROR.TIMEOUT) console.log("recv() timed out");
 * ```
 */
export function lastError(): number {
  return lastErrorCode;
}

/** Records a failure for {@link lastError}. */
export function setLastError(code: number): void {
  lastErrorCode = code;
}

/**
 * Thrown by `recv()` when another `recv()` on the same connection is still waiting: two tasks
 * reading one connection would each get an arbitrary half of the messages.
 *
 * @example
 * ```ts
 * import { ConcurrencyError } from "../../mod.ts";
 * const error = new ConcurrencyError("Cannot call recv(): another recv() is pending");
 * console.log(error.name); // "ConcurrencyError"
 * ```
 */
export class ConcurrencyError extends Error {
  /**
   * Makes the error; the core throws it, handlers catch it.
   *
   * @param message what was attempted and why it cannot be done
   */
  constructor(message: string) {
    super(message);
    this.name = "ConcurrencyError";
  }
}
