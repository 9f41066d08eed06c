/**
 * Server settings: Swoole's snake_case names, and the defaults with the reason for each.
 *
 * @module
 */

/**
 * What `server.set()` accepts. Every limit is on by default; the README's settings table gives
 * each default's reason.
 *
 * @example
 * ```ts
 * import { Server } from "../mod.ts";
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

/** The defaults; each one's reason is in the README's settings table. */
export const DEFAULT_SETTINGS: ResolvedSettings = {
  package_max_length: 2 * 1024 * 1024,
  socket_read_timeout: -1,
  websocket_max_queue: 256,
  websocket_write_limit: 1024 * 1024,
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
  http_parse_post: true,
  http_parse_files: true,
  http_parse_cookie: true,
  open_websocket_close_frame: false,
  open_websocket_ping_frame: false,
  open_websocket_pong_frame: false,
};

/**
 * Merges `update` into `current`, refusing unknown keys and values of the wrong type, so a
 * typo in a setting fails loudly instead of being ignored.
 *
 * @throws {TypeError} for an unknown key or a value of the wrong type (a list of strings where
 * the default is a list)
 * @throws {RangeError} for a negative size
 */
export function mergeSettings(current: ResolvedSettings, update: Settings): ResolvedSettings {
  const merged: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(update)) {
    if (!(key in DEFAULT_SETTINGS)) throw new TypeError(`Cannot set "${key}": unknown setting`);
    const fallback = DEFAULT_SETTINGS[key as keyof ResolvedSettings];
    if (Array.isArray(fallback)) {
      if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
        throw new TypeError(`Cannot set "${key}": expected a list of strings`);
      }
      merged[key] = [...value];
      continue;
    }
    const expected = typeof fallback;
    const actual = typeof value;
    if (actual !== expected) {
      throw new TypeError(`Cannot set "${key}": expected a ${expected}, got ${actual}`);
    }
    if (expected === "number" && key !== "socket_read_timeout" && !((value as number) >= 0)) {
      throw new RangeError(`Cannot set "${key}" to ${value}: it must be 0 or more`);
    }
    if (key === "http_compression_level" && !((value as number) >= 1 && (value as number) <= 9)) {
      throw new RangeError(`Cannot set "${key}" to ${value}: it must be from 1 to 9`);
    }
    merged[key] = value;
  }
  return merged as ResolvedSettings;
}
