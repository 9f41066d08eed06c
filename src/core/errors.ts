/**
 * Error classes and the module-wide last error, as Swoole's `swoole_last_error()`.
 *
 * @module
 */

import { CLOSE, ERROR } from "./constants.ts";

let lastErrorCode: number = ERROR.NONE;
/** Counts the failures recorded, so that an end can tell which of two errors came last. */
let errorSequence = 0;

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

/**
 * Who ended a connection: `"peer"` (its Close, or it dropped the connection), `"self"` (this
 * side's `close()` or `disconnect()`, a handler that returned, a shutdown), `"rule"` (the peer
 * broke a rule and was closed for it: 1009, 1008, 1007, 1002), `"timeout"` (silent past
 * `websocket_idle_timeout`, or a handshake that never completed).
 *
 * @example
 * ```ts
 * import type { ClosedBy } from "../../mod.ts";
 * const retry = (closedBy: ClosedBy | undefined) => closedBy === "peer" || closedBy === "timeout";
 * ```
 */
export type ClosedBy = "peer" | "self" | "rule" | "timeout";

/**
 * Records a failure for {@link lastError}.
 *
 * @returns its place in the order of all failures recorded
 */
export function setLastError(code: number): number {
  lastErrorCode = code;
  return ++errorSequence;
}

/**
 * The last failure of one connection or one end, and its place among every failure recorded,
 * so that of two records the newer can be told (see `WebSocketEndpoint.errCode`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ERROR } from "./constants.ts";
 * import { FailureRecord, lastError } from "./errors.ts";
 * const older = new FailureRecord();
 * const newer = new FailureRecord();
 * older.set(ERROR.TIMEOUT, "recv() timed out");
 * newer.set(ERROR.CONNECTION_RESET, "dropped");
 * assert.ok(newer.sequence > older.sequence);
 * assert.equal(lastError(), ERROR.CONNECTION_RESET);
 * ```
 */
export class FailureRecord {
  /** One of `ERROR`; `ERROR.NONE` until something fails. */
  code: number = ERROR.NONE;
  /** Says what failed and why. */
  message = "";
  /** 0 until set, then greater than that of every failure recorded before it. */
  sequence = 0;

  /** Records a failure here and for {@link lastError}. */
  set(code: number, message: string): void {
    this.code = code;
    this.message = message;
    this.sequence = setLastError(code);
  }
}

/**
 * What `recv()` (and the iterator's `next()`) rejects with while another `recv()` on the same
 * connection is still waiting: two tasks reading one connection would each get an arbitrary
 * half of the messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConcurrencyError } from "../../mod.ts";
 * const error = new ConcurrencyError("Cannot call recv(): another recv() is pending");
 * assert.equal(error.name, "ConcurrencyError");
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

/**
 * Why a server cannot do what was asked in its life so far: `"STARTED"` (it listens or is
 * mounted, so settings and the broker are fixed), `"SHUT_DOWN"` (make a new one), `"MOUNTED"`
 * (a host server listens for it), `"LISTENING"` (it listens itself, so it cannot be mounted).
 *
 * @example
 * ```ts
 * import type { LifecycleState } from "../../mod.ts";
 * const state: LifecycleState = "SHUT_DOWN";
 * ```
 */
export type LifecycleState = "STARTED" | "SHUT_DOWN" | "MOUNTED" | "LISTENING";

/**
 * Thrown (or rejected with, by `start()`) for a call the server's state does not allow: a
 * setting changed after `start()`, `start()` twice or after `shutdown()`, mounting a server
 * that listens itself. A bug in the program, not a condition to retry.
 *
 * @example
 * ```ts
 * import { LifecycleError, Server } from "../../mod.ts";
 * const server = new Server("127.0.0.1", 0);
 * await server.shutdown();
 * await server.start().catch((error) => {
 *   if (error instanceof LifecycleError) console.log(error.state); // "SHUT_DOWN"
 * });
 * ```
 */
export class LifecycleError extends Error {
  /** The state that refused the call. */
  readonly state: LifecycleState;

  /**
   * Makes the error; the server throws it.
   *
   * @param state the state that refused the call
   * @param message what was attempted, and why it cannot be done
   */
  constructor(state: LifecycleState, message: string) {
    super(message);
    this.name = "LifecycleError";
    this.state = state;
  }
}

/**
 * How a connection ended when it did not close cleanly: what `strict()` iteration ends with.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectionClosedError } from "../../mod.ts";
 * const error = new ConnectionClosedError(1009, "Message too big", "rule", "a message was too big");
 * assert.equal(error.code, 1009);
 * assert.equal(error.closedBy, "rule");
 * ```
 */
export class ConnectionClosedError extends Error {
  /** The Close code (1006: dropped without one). */
  readonly code: number;
  /** The reason sent with it. */
  readonly reason: string;
  /** Who ended the connection (see {@link ClosedBy}). */
  readonly closedBy: ClosedBy | undefined;

  /**
   * Makes the error; `strict()` iteration throws it.
   *
   * @param code the Close code
   * @param reason the reason sent with it
   * @param closedBy who ended the connection
   * @param detail what the end's `errMsg` said, if anything
   */
  constructor(code: number, reason: string, closedBy: ClosedBy | undefined, detail = "") {
    super(
      `The connection closed with ${code}${reason ? ` (${reason})` : ""}` +
        `${closedBy ? `, ended by ${closedBy}` : ""}${detail ? `: ${detail}` : ""}`,
    );
    this.name = "ConnectionClosedError";
    this.code = code;
    this.reason = reason;
    this.closedBy = closedBy;
  }
}

/** The error (code and message) for a connection closed with `code` because the peer broke a rule. */
export function violationError(code: number): [code: number, message: string] {
  if (code === CLOSE.MESSAGE_TOO_BIG) {
    return [
      ERROR.PACKAGE_LENGTH_TOO_LARGE,
      "Closed with 1009: a message was over package_max_length",
    ];
  }
  if (code === CLOSE.POLICY_ERROR) {
    return [ERROR.QUEUE_FULL, "Closed with 1008: the peer sent more than recv() took"];
  }
  return [ERROR.PROTOCOL_ERROR, `Closed with ${code}: the peer broke the protocol`];
}
