/**
 * Server settings: Swoole's snake_case names, and the defaults with the reason for each.
 *
 * @module
 */

/**
 * What `server.set()` accepts. Every limit is on by default; docs/reference/settings.md gives
 * each default's reason.
 *
 * @example
 * ```ts
 * import { Server } from "../../mod.ts";
 * const server = new Server("127.0.0.1", 0);
 * server.set({ open_websocket_close_frame: true, socket_read_timeout: 30 });
 * ```
 */
export interface Settings {
  /** Largest WebSocket message (larger ones close with 1009) and HTTP body (413), in bytes. */
  package_max_length?: number;
  /** Default `recv()` timeout in seconds; `< 0` (the default) waits forever. */
  socket_read_timeout?: number;
  /** Messages queued for `recv()` before reading pauses; it resumes at a quarter of this. */
  websocket_max_queue?: number;
  /** Bytes buffered for the peer before `push()` waits for them to drain. */
  websocket_write_limit?: number;
  /** Bytes of a request head (request line and headers); a larger one is answered 431. */
  http_max_header_size?: number;
  /** Seconds `disconnect()` waits for the peer's Close before dropping the connection. */
  websocket_close_timeout?: number;
  /**
   * Seconds a WebSocket may stay silent before it is pinged, and then dropped if the peer still
   * says nothing: its handler's `recv()` returns `""`. 0 turns the check off.
   */
  websocket_idle_timeout?: number;
  /** Requests handled at once (WebSockets included); one more is answered 503. */
  max_connections?: number;
  /**
   * Seconds a request body may take to arrive; a slower one is answered 408 and its connection
   * closed. 0 turns it off.
   */
  http_body_timeout?: number;
  /**
   * Bytes of request bodies the server holds at once, across all requests (a body counts its
   * declared length, or `package_max_length` when chunked, while it is read and handled); a
   * request beyond it is answered 503.
   */
  http_body_memory_limit?: number;
  /**
   * Origins allowed to open a WebSocket, e.g. `["https://example.com"]`; others get 403.
   * `["*"]` allows any. A request with no `Origin` header (not a browser) is always allowed.
   */
  allowed_origins?: string[];
  /** Seconds `shutdown()` waits for handlers before dropping their connections. */
  max_wait_time?: number;
  /** PEM certificate (chain) file for `new Server(host, port, true)`. */
  ssl_cert_file?: string;
  /** PEM private key file for `new Server(host, port, true)`. */
  ssl_key_file?: string;
  /** Compress responses sent with `end()` (gzip or deflate, as the client accepts). */
  http_compression?: boolean;
  /** zlib level, 1 (fastest) to 9 (smallest). */
  http_compression_level?: number;
  /** Bodies shorter than this many bytes are sent as they are. */
  http_compression_min_length?: number;
  /**
   * Offer permessage-deflate (RFC 7692) to WebSocket clients; a message is compressed when
   * pushed with `FLAG.COMPRESS`, as in Swoole. No context takeover either way, so a connection
   * keeps no compression state between messages (docs/topics/compression.md has the
   * measurements). Deno's own WebSocket server cannot negotiate it (see the runtime table).
   */
  websocket_compression?: boolean;
  /**
   * Which WebSocket server to run on: `"native"`, the runtime's own (`Deno.serve`, `Bun.serve`,
   * `node:http` with `ws`), or `"ws"`: `node:http` with `ws` on Deno too, which brings
   * compression, pause, ping/pong, a message limit enforced before buffering and a Close frame
   * on protocol errors to Deno (docs/reference/runtimes.md). Not on Bun.
   */
  websocket_engine?: "native" | "ws";
  /**
   * One info line per HTTP request (method, path, status, bytes, time) and per WebSocket (path,
   * close code, who closed, time, messages and bytes each way) to the server's logger.
   */
  access_log?: boolean;
  /** Parse an urlencoded request body into `request.post`. */
  http_parse_post?: boolean;
  /** Parse the files of a multipart body into `request.files`. */
  http_parse_files?: boolean;
  /** Parse the Cookie header into `request.cookie`. */
  http_parse_cookie?: boolean;
  /** `recv()` returns the peer's Close as a `CloseFrame` before `""`. */
  open_websocket_close_frame?: boolean;
  /** `recv()` returns pings as frames (they are still answered automatically). */
  open_websocket_ping_frame?: boolean;
  /** `recv()` returns pongs as frames. */
  open_websocket_pong_frame?: boolean;
}

/** Settings with every default filled in. */
export type ResolvedSettings = Required<Settings>;

/** The defaults; each one's reason is in docs/reference/settings.md. */
export const DEFAULT_SETTINGS: ResolvedSettings = {
  package_max_length: 2 * 1024 * 1024,
  socket_read_timeout: -1,
  websocket_max_queue: 256,
  websocket_write_limit: 1024 * 1024,
  http_max_header_size: 16 * 1024,
  websocket_close_timeout: 5,
  websocket_idle_timeout: 120,
  max_connections: 10_000,
  http_body_timeout: 30,
  http_body_memory_limit: 256 * 1024 * 1024,
  allowed_origins: ["*"],
  max_wait_time: 3,
  ssl_cert_file: "",
  ssl_key_file: "",
  http_compression: true,
  http_compression_level: 1,
  http_compression_min_length: 20,
  websocket_compression: false,
  websocket_engine: "native",
  access_log: false,
  http_parse_post: true,
  http_parse_files: true,
  http_parse_cookie: true,
  open_websocket_close_frame: false,
  open_websocket_ping_frame: false,
  open_websocket_pong_frame: false,
};

/** The longest time a timer can wait, in seconds: past it, runtimes fire at once. */
export const MAX_TIMER_SECONDS = 2_147_483;
const MAX_INT = 2 ** 31 - 1;

/** Each numeric setting's range: least, most, and whether it takes whole numbers only. */
const RANGES: Record<string, readonly [number, number, boolean]> = {
  package_max_length: [1, MAX_INT, true],
  // Below 0 (or Infinity): wait forever.
  socket_read_timeout: [-Infinity, Infinity, false],
  websocket_max_queue: [1, MAX_INT, true],
  websocket_write_limit: [1, MAX_INT, true],
  // Bun takes no larger head (it answers 431 itself), Deno none past 64 KiB.
  http_max_header_size: [1024, 16 * 1024, true],
  websocket_close_timeout: [0.001, MAX_TIMER_SECONDS, false],
  // Bun's most.
  websocket_idle_timeout: [0, 960, false],
  max_connections: [1, MAX_INT, true],
  max_wait_time: [0, MAX_TIMER_SECONDS, false],
  http_body_timeout: [0, MAX_TIMER_SECONDS, false],
  http_body_memory_limit: [1, Number.MAX_SAFE_INTEGER, true],
  http_compression_level: [1, 9, true],
  http_compression_min_length: [0, MAX_INT, true],
};

/**
 * Merges `update` into `current`, refusing unknown keys, values of the wrong type and values
 * out of range (docs/reference/settings.md gives each range), so a mistake in a setting
 * fails loudly at `set()` instead of later, or on one runtime only.
 *
 * `method` names the caller in messages; `known` is the keys it takes (default: all).
 *
 * @throws {TypeError} for an update that is not an object, an unknown key, or a value of the
 * wrong type (a list of strings where the default is a list)
 * @throws {RangeError} for a number out of its setting's range
 */
export function mergeSettings(
  current: ResolvedSettings,
  update: Settings,
  method = "server.set()",
  known: ReadonlySet<string> = new Set(Object.keys(DEFAULT_SETTINGS)),
): ResolvedSettings {
  if (typeof update !== "object" || update === null || Array.isArray(update)) {
    throw new TypeError(
      `${method}: pass an object of settings, e.g. { package_max_length: 1048576 }, ` +
        `got ${update === null ? "null" : Array.isArray(update) ? "an array" : typeof update}`,
    );
  }
  const merged: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(update)) {
    if (!known.has(key)) throw new TypeError(`${method}: unknown setting "${key}"`);
    const fallback = DEFAULT_SETTINGS[key as keyof ResolvedSettings];
    if (Array.isArray(fallback)) {
      if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
        throw new TypeError(`${method}: "${key}" must be a list of strings`);
      }
      merged[key] = [...value];
      continue;
    }
    const expected = typeof fallback;
    const actual = typeof value;
    if (actual !== expected) {
      throw new TypeError(`${method}: "${key}" must be a ${expected}, got ${actual}`);
    }
    if (expected === "number") assertInRange(method, key, value as number);
    if (key === "websocket_engine" && value !== "native" && value !== "ws") {
      throw new RangeError(
        `${method}: "websocket_engine" must be "native" or "ws", got "${value}"`,
      );
    }
    merged[key] = value;
  }
  return merged as ResolvedSettings;
}

function assertInRange(method: string, key: string, value: number): void {
  const [least, most, whole] = RANGES[key];
  const inRange = value >= least && value <= most && (!whole || Number.isInteger(value));
  if (inRange) return;
  const kind = whole ? "a whole number" : "a number";
  const range = least === -Infinity ? "" : ` from ${least} to ${most}`;
  throw new RangeError(`${method}: "${key}" must be ${kind}${range}, got ${value}`);
}
