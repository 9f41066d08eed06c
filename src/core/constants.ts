/**
 * Protocol and error numbers, with Swoole's names and values so that ported code reads the same.
 *
 * @module
 */

/**
 * WebSocket opcodes (RFC 6455 §5.2), Swoole's `WEBSOCKET_OPCODE_*`.
 *
 * @example Send a binary message
 * ```ts
 * import assert from "node:assert/strict";
 * import { OPCODE } from "./constants.ts";
 * assert.equal(OPCODE.BINARY, 2);
 * ```
 */
export const OPCODE = {
  CONTINUATION: 0,
  TEXT: 1,
  BINARY: 2,
  CLOSE: 8,
  PING: 9,
  PONG: 10,
} as const;

/**
 * One of the {@link OPCODE} values.
 *
 * @example
 * ```ts
 * import { OPCODE, type Opcode } from "../../mod.ts";
 * const isData = (opcode: Opcode) => opcode === OPCODE.TEXT || opcode === OPCODE.BINARY;
 * ```
 */
export type Opcode = typeof OPCODE[keyof typeof OPCODE];

/**
 * Frame flag bits, Swoole's `SWOOLE_WEBSOCKET_FLAG_*` (not the wire bits: `Frame.pack` maps them).
 *
 * @example A final, masked frame, as a client sends it
 * ```ts
 * import assert from "node:assert/strict";
 * import { FLAG } from "./constants.ts";
 * const flags = FLAG.FIN | FLAG.MASK;
 * assert.equal(flags, 33);
 * ```
 */
export const FLAG = {
  FIN: 1,
  COMPRESS: 2,
  RSV1: 4,
  RSV2: 8,
  RSV3: 16,
  MASK: 32,
} as const;

/**
 * Close codes (RFC 6455 §7.4.1), Swoole's `WEBSOCKET_CLOSE_*`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CLOSE } from "./constants.ts";
 * assert.equal(CLOSE.GOING_AWAY, 1001);
 * ```
 */
export const CLOSE = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  DATA_ERROR: 1003,
  STATUS_ERROR: 1005,
  ABNORMAL: 1006,
  MESSAGE_ERROR: 1007,
  POLICY_ERROR: 1008,
  MESSAGE_TOO_BIG: 1009,
  EXTENSION_MISSING: 1010,
  SERVER_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  BAD_GATEWAY: 1014,
  TLS: 1015,
} as const;

/**
 * Error codes that `lastError()` and `response.errCode` report: Swoole's numbers (errno values
 * for socket errors, `SWOOLE_ERROR_*` for the rest).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ERROR } from "./constants.ts";
 * assert.equal(ERROR.TIMEOUT, 110);
 * ```
 */
export const ERROR = {
  /** No error. */
  NONE: 0,
  /** `ENOENT`: `sendfile()` could not open the file. */
  FILE_NOT_FOUND: 2,
  /** HTTP's 416: `sendfile()` was given an offset past the end of the file. */
  RANGE_NOT_SATISFIABLE: 416,
  /** `ECONNRESET`: the peer dropped the connection without a Close frame (1006). */
  CONNECTION_RESET: 104,
  /** `ETIMEDOUT`: `recv()` timed out (the connection stays open), or a client's handshake did. */
  TIMEOUT: 110,
  /** `ECONNREFUSED`: nothing listens where a client tried to connect. */
  CONNECTION_REFUSED: 111,
  /**
   * `SWOOLE_ERROR_QUEUE_FULL`: the peer sent more than `recv()` took, where the runtime cannot
   * pause reading; the connection closed with 1008.
   */
  QUEUE_FULL: 506,
  /** `SWOOLE_ERROR_PROTOCOL_ERROR`: the peer broke the WebSocket protocol (Close 1002, 1007). */
  PROTOCOL_ERROR: 508,
  /** `SWOOLE_ERROR_PACKAGE_LENGTH_TOO_LARGE`: a message over `package_max_length` (Close 1009). */
  PACKAGE_LENGTH_TOO_LARGE: 1201,
  /** `SWOOLE_ERROR_WEBSOCKET_BAD_CLIENT`: the request is not a valid WebSocket upgrade. */
  WEBSOCKET_BAD_CLIENT: 8501,
  /** `SWOOLE_ERROR_WEBSOCKET_BAD_OPCODE`: the runtime cannot send this opcode. */
  WEBSOCKET_BAD_OPCODE: 8502,
  /** `SWOOLE_ERROR_WEBSOCKET_UNCONNECTED`: not upgraded to a WebSocket. */
  WEBSOCKET_UNCONNECTED: 8503,
  /**
   * `SWOOLE_ERROR_WEBSOCKET_HANDSHAKE_FAILED`: the runtime refused the upgrade, or a server
   * answered a client's without 101.
   */
  WEBSOCKET_HANDSHAKE_FAILED: 8504,
} as const;
