/**
 * The WebSocket end that the server's `Response` and the `Client` share: `recv()`, `push()`,
 * `ping()`, `close()`, `disconnect()`, `for await` and the errors they report, all on one core
 * connection.
 *
 * @module
 */

import { CLOSE, ERROR, FLAG, OPCODE, type Opcode } from "./constants.ts";
import { assertPushData, assertTimeout } from "./checks.ts";
import type { WebSocketConnection } from "./connection.ts";
import { type ClosedBy, ConnectionClosedError, FailureRecord, setLastError } from "./errors.ts";
import type { PushData, RecvResult } from "./payload.ts";
import { type Frame, type FrameData, pushFlags } from "./frame.ts";

const FALSE = Promise.resolve(false);
const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * One end of a WebSocket with Swoole's pull-based API: the server's `Response` (once upgraded)
 * and the `Client` are both one. Before there is a connection, every call fails with
 * `ERROR.WEBSOCKET_UNCONNECTED`.
 *
 * @example Code that serves both ends
 * ```ts
 * import type { WebSocketEndpoint } from "../../mod.ts";
 * async function echo(end: WebSocketEndpoint) {
 *   for await (const frame of end) await end.push(frame.data, frame.opcode);
 * }
 * ```
 */
export class WebSocketEndpoint {
  #failure = new FailureRecord();
  #connection: WebSocketConnection | undefined;

  /**
   * The code of the last failure on this end, one of `ERROR` (0: none): whatever failed last,
   * a call or the connection. Swoole has only `swoole_last_error()` (here `lastError()`); this
   * one is kept per end.
   */
  get errCode(): number {
    return this.#lastFailure().code;
  }

  /** A message for {@link WebSocketEndpoint.errCode}. */
  get errMsg(): string {
    return this.#lastFailure().message;
  }

  #lastFailure(): FailureRecord {
    const connection = this.#connection?.failure;
    return connection && connection.sequence > this.#failure.sequence ? connection : this.#failure;
  }

  /**
   * The Close code the connection ended with: the peer's, this side's, or 1006 when it was
   * dropped without one; undefined while open (or never opened).
   *
   * @example How a handler's connection ended
   * ```ts
   * import type { Response } from "../../mod.ts";
   * async function serve(ws: Response) {
   *   for await (const frame of ws) await ws.push(frame.data);
   *   console.log(`closed by ${ws.closedBy} with ${ws.closeCode} ${ws.closeReason}`);
   * }
   * ```
   */
  get closeCode(): number | undefined {
    return this.#connection?.closedBy === undefined ? undefined : this.#connection.closeCode;
  }

  /** The reason sent with {@link WebSocketEndpoint.closeCode} ("" when none); undefined while open. */
  get closeReason(): string | undefined {
    return this.#connection?.closedBy === undefined ? undefined : this.#connection.closeReason;
  }

  /** Who ended the connection (see {@link ClosedBy}); undefined while open. */
  get closedBy(): ClosedBy | undefined {
    return this.#connection?.closedBy;
  }

  /**
   * The messages until the connection closes, as `for await (const frame of ws)` gives them,
   * except that a close that is not clean (this side's own close is; the peer's is at 1000 or
   * 1001; a broken rule, a timeout, a dropped connection or another code is not) ends it with a
   * {@link ConnectionClosedError} that says how. For code that fails loudly; the Swoole-style
   * sentinels stay the default.
   *
   * @example
   * ```ts
   * import { ConnectionClosedError, type Response } from "../../mod.ts";
   * async function serve(ws: Response) {
   *   try {
   *     for await (const frame of ws.strict()) await ws.push(frame.data);
   *   } catch (error) {
   *     if (error instanceof ConnectionClosedError) console.log(error.code, error.closedBy);
   *   }
   * }
   * ```
   */
  strict(): AsyncIterable<Frame> {
    const frames = this[Symbol.asyncIterator]();
    const next = async () => {
      const result = await frames.next();
      if (result.done) this.#throwUnlessClean();
      return result;
    };
    return { [Symbol.asyncIterator]: () => ({ next }) };
  }

  #throwUnlessClean(): void {
    const connection = this.#connection;
    const code = connection?.closeCode ?? CLOSE.ABNORMAL;
    const closedBy = connection?.closedBy;
    // This side's own close is what the program asked for; the peer's is clean at 1000 or 1001.
    const clean = closedBy === "self" ||
      (closedBy === "peer" && (code === CLOSE.NORMAL || code === CLOSE.GOING_AWAY));
    if (!clean) {
      throw new ConnectionClosedError(code, connection?.closeReason ?? "", closedBy, this.errMsg);
    }
  }

  /**
   * The next whole message; `""` once the connection has closed; `false` on timeout or error
   * (see {@link WebSocketEndpoint.errCode}). `timeout` in seconds: `> 0` waits that long, `0`
   * uses the `socket_read_timeout` setting (default: forever), `< 0` or `Infinity` waits
   * forever. A timeout loses no data and keeps the connection open. While another `recv()` on
   * this connection is waiting, the promise rejects with `ConcurrencyError`.
   *
   * @throws {TypeError} for a timeout that is not a number, or NaN
   * @example
   * ```ts
   * import type { Response } from "../../mod.ts";
   * async function firstMessage(ws: Response) {
   *   const frame = await ws.recv(5);
   *   if (frame === false) return "timed out or failed";
   *   if (frame === "") return "closed";
   *   return frame.data;
   * }
   * ```
   */
  recv(timeout = 0): Promise<RecvResult> {
    assertTimeout(timeout);
    if (this.#connection) return this.#connection.recv(timeout);
    this.setError(ERROR.WEBSOCKET_UNCONNECTED, "Cannot recv(): not upgraded to a WebSocket");
    return Promise.resolve(false);
  }

  /**
   * Sends a message. `data` may also be a `Frame` or `CloseFrame`, whose own opcode is used
   * (pings, pongs, Close). `finish = false` (or flags without `FLAG.FIN`), then
   * `OPCODE.CONTINUATION` pushes, send one message in fragments. Pushes keep their order across
   * tasks. Resolves once the runtime has taken the frame below `websocket_write_limit`; false
   * once the connection is closing.
   *
   * With `websocket_compression` on, `FLAG.COMPRESS` in `flags` compresses the message
   * (permessage-deflate) when the peer negotiated it and the message is at least 128 bytes
   * long, as in Swoole; other messages go as they are.
   *
   * @param flags `FLAG.FIN` and `FLAG.COMPRESS` bits, or a boolean: whether this ends the message
   * @throws {TypeError} for data or flags of the wrong type
   * @throws {RangeError} for an opcode, flags or Close code that cannot be sent
   * @example Text, binary, compressed, and a fragmented message
   * ```ts
   * import { FLAG, OPCODE, type Response } from "../../mod.ts";
   * async function send(ws: Response) {
   *   await ws.push("hello");
   *   await ws.push(new Uint8Array([1, 2, 3]), OPCODE.BINARY);
   *   await ws.push(JSON.stringify({ rows: [] }), OPCODE.TEXT, FLAG.FIN | FLAG.COMPRESS);
   *   await ws.push("Hel", OPCODE.TEXT, false);
   *   await ws.push("lo", OPCODE.CONTINUATION, true);
   * }
   * ```
   */
  push(
    data: PushData,
    opcode: Opcode = OPCODE.TEXT,
    flags: number | boolean = FLAG.FIN,
  ): Promise<boolean> {
    assertPushData(data);
    const bits = pushFlags("push()", flags);
    if (this.#connection) return this.#connection.push(data, opcode, bits);
    this.setError(ERROR.WEBSOCKET_UNCONNECTED, "Cannot push(): not upgraded to a WebSocket");
    return FALSE;
  }

  /**
   * Sends a ping. The runtime answers the peer's pings by itself.
   *
   * @returns false when not open, or where the runtime cannot send pings (Deno's own server
   * engine; see docs/reference/runtimes.md)
   * @example
   * ```ts
   * import type { Response } from "../../mod.ts";
   * function keepAlive(ws: Response) {
   *   if (!ws.ping("are you there")) console.log(ws.errMsg);
   * }
   * ```
   */
  ping(data: FrameData = ""): boolean {
    if (this.#connection) return this.#connection.ping(data);
    this.setError(ERROR.WEBSOCKET_UNCONNECTED, "Cannot ping(): not upgraded to a WebSocket");
    return false;
  }

  /**
   * Drops the connection without a Close frame, as Swoole does, after what `push()` accepted
   * (where the runtime cannot drop one it sends Close 1000; see docs/reference/runtimes.md). `recv()`
   * then returns `""`.
   *
   * @returns false when there was no open connection
   * @example
   * ```ts
   * import type { Response } from "../../mod.ts";
   * function kick(ws: Response) {
   *   ws.close();
   * }
   * ```
   */
  close(): boolean {
    return this.#connection?.close() ?? false;
  }

  /**
   * Sends a Close frame with `code` and `reason`, waits for the peer's at most
   * `websocket_close_timeout` seconds, then closes.
   *
   * @returns true once the peer answered with its Close; false when it did not within the
   * timeout (the connection was dropped) or there was no open connection
   * @throws {RangeError} for a code that may not be sent or a reason over 123 bytes
   * @example
   * ```ts
   * import type { Response } from "../../mod.ts";
   * async function bye(ws: Response) {
   *   await ws.disconnect(4000, "session expired");
   * }
   * ```
   */
  disconnect(code: number = CLOSE.NORMAL, reason = ""): Promise<boolean> {
    return this.#connection?.disconnect(code, reason) ?? FALSE;
  }

  /**
   * Yields each frame until the connection closes. Leaving the loop early does not close it.
   *
   * @example
   * ```ts
   * import type { Response } from "../../mod.ts";
   * async function log(ws: Response) {
   *   for await (const frame of ws) console.log(frame.data);
   * }
   * ```
   */
  [Symbol.asyncIterator](): AsyncIterator<Frame> {
    // Not an async generator: its extra hops would let a runtime report the peer's close
    // before the handler has answered the message that came just before it.
    return { next: () => this.#connection?.next() ?? this.recv().then(() => DONE) };
  }

  /**
   * The core connection, once there is one: for `Response` and `Client` only.
   *
   * @ignore
   */
  protected get connection(): WebSocketConnection | undefined {
    return this.#connection;
  }

  /**
   * Set by `Response.upgrade()` and `Client.upgrade()`.
   *
   * @ignore
   */
  protected set connection(connection: WebSocketConnection | undefined) {
    this.#connection = connection;
  }

  /**
   * Forgets this end's own last failure, for a fresh connection: what the connection reports,
   * even before the caller sees it, is newer.
   */
  protected clearError(): void {
    this.#failure = new FailureRecord();
    setLastError(ERROR.NONE);
  }

  /** Records a failure for `errCode`, `errMsg` and `lastError()`. */
  protected setError(code: number, message: string): void {
    this.#failure.set(code, message);
  }
}
