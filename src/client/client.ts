/**
 * The coroutine WebSocket client, shaped like Swoole's `Swoole\Coroutine\Http\Client`: upgrade,
 * then `recv()` and `push()` with the server side's semantics, from the same core.
 *
 * @module
 */

import { clientAdapter } from "./adapter.ts";
import { ERROR } from "../core/constants.ts";
import { WebSocketConnection } from "../core/connection.ts";
import { connectionContext } from "../core/context.ts";
import { WebSocketEndpoint } from "../core/endpoint.ts";
import { DEFAULT_SETTINGS, mergeSettings, type ResolvedSettings } from "../core/settings.ts";

/**
 * What `client.set()` accepts: Swoole's client settings that apply to a WebSocket.
 *
 * @example
 * ```ts
 * import type { ClientSettings } from "../../mod.ts";
 * const settings: ClientSettings = { timeout: 3, websocket_compression: true };
 * ```
 */
export interface ClientSettings {
  /** Seconds to connect and complete the handshake (default 5). */
  timeout?: number;
  /**
   * Verify the server's TLS certificate (default true); off for self-signed test servers (not in
   * a browser, which always verifies).
   */
  ssl_verify_peer?: boolean;
  /** Largest message accepted; a larger one closes with 1009. */
  package_max_length?: number;
  /** Default `recv()` timeout in seconds; `< 0` (the default) waits forever. */
  socket_read_timeout?: number;
  /** Messages queued for `recv()` before reading pauses (a browser cannot pause: 1008 there). */
  websocket_max_queue?: number;
  /** Bytes buffered for the server before `push()` waits. */
  websocket_write_limit?: number;
  /** Seconds `disconnect()` waits for the server's Close. */
  websocket_close_timeout?: number;
  /** Offer permessage-deflate (a browser offers it by itself, whatever this says). */
  websocket_compression?: boolean;
  /** `recv()` returns the server's Close as a `CloseFrame` before `""`. */
  open_websocket_close_frame?: boolean;
  /** `recv()` returns pings as frames. */
  open_websocket_ping_frame?: boolean;
  /** `recv()` returns pongs as frames. */
  open_websocket_pong_frame?: boolean;
}

const bodyDecoder = new TextDecoder();

/** The settings the client shares with the server's connections. */
const SHARED_KEYS = new Set([
  "package_max_length",
  "socket_read_timeout",
  "websocket_max_queue",
  "websocket_write_limit",
  "websocket_close_timeout",
  "websocket_compression",
  "open_websocket_close_frame",
  "open_websocket_ping_frame",
  "open_websocket_pong_frame",
]);

/** A client watches no idleness: the server it talks to does. */
const CLIENT_DEFAULTS: ResolvedSettings = { ...DEFAULT_SETTINGS, websocket_idle_timeout: 0 };

/**
 * A WebSocket client with the server side's `recv()` / `push()` API, on Deno, Bun, Node and in
 * browsers (`coro-ws/client`). Node runs `ws`'s client, Deno and Bun an RFC 6455 engine of the
 * project's own over their native sockets, so on each of the three it pauses reading, pings,
 * sends fragments, compresses and shows a refused handshake's status, headers and body; a
 * browser's own `WebSocket` can do none of that (docs/reference/runtimes.md).
 *
 * @example Swoole's client example
 * ```ts
 * import { Client } from "../../mod.ts";
 * const client = new Client("127.0.0.1", 9502);
 * if (await client.upgrade("/websocket")) {
 *   await client.push("hello");
 *   const frame = await client.recv(5);
 *   if (frame) console.log(frame.data);
 *   await client.disconnect();
 * } else {
 *   console.log(client.statusCode, client.errCode, client.errMsg);
 * }
 * ```
 */
export class Client extends WebSocketEndpoint {
  /** The server's host name or address. */
  readonly host: string;
  /** The server's port. */
  readonly port: number;
  /** Whether to use TLS (`wss://`). */
  readonly ssl: boolean;
  /** The upgrade's HTTP status: 101 once upgraded, the server's status when refused, else 0. */
  statusCode = 0;
  /** The upgrade answer's headers, names in lower case (a browser does not show them). */
  headers: Record<string, string> = {};
  /** The subprotocol the server chose, or "". */
  protocol = "";
  /**
   * The body of a refused upgrade's answer (UTF-8, at most 64 KiB: the rest is not read), e.g.
   * why a 401 or 503 refused; "" once upgraded, and in a browser, which does not show it.
   */
  body = "";
  #settings: ResolvedSettings = CLIENT_DEFAULTS;
  #timeout = 5;
  #verifyPeer = true;
  #requestHeaders: Record<string, string> = {};

  /**
   * Makes a client; nothing connects until `upgrade()`.
   *
   * @throws {TypeError} for a host that is not a non-empty string, or a port not in 1-65535
   */
  constructor(host: string, port: number, ssl = false) {
    super();
    if (typeof host !== "string" || host === "") {
      throw new TypeError(`new Client(): pass the server's host name or address, got ${host}`);
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new TypeError(`new Client(): pass a port from 1 to 65535, got ${port}`);
    }
    this.host = host;
    this.port = port;
    this.ssl = ssl === true;
  }

  /**
   * Changes settings; see {@link ClientSettings}.
   *
   * @throws {TypeError} for an unknown key or a value of the wrong type
   * @throws {RangeError} for a number out of its range
   * @example
   * ```ts
   * import { Client } from "../../mod.ts";
   * new Client("127.0.0.1", 9502).set({ timeout: 3, package_max_length: 1024 * 1024 });
   * ```
   */
  set(settings: ClientSettings): void {
    const { timeout, ssl_verify_peer: verifyPeer, ...shared } = settings ?? {};
    if (timeout !== undefined && (typeof timeout !== "number" || !(timeout > 0))) {
      throw new RangeError(`client.set(): "timeout" must be seconds above 0, got ${timeout}`);
    }
    if (verifyPeer !== undefined && typeof verifyPeer !== "boolean") {
      throw new TypeError(`client.set(): "ssl_verify_peer" must be a boolean, got ${verifyPeer}`);
    }
    this.#settings = mergeSettings(this.#settings, shared, "client.set()", SHARED_KEYS);
    if (timeout !== undefined) this.#timeout = timeout;
    if (verifyPeer !== undefined) this.#verifyPeer = verifyPeer;
  }

  /**
   * Headers for the upgrade request (replacing earlier ones), e.g. an `Authorization`. A
   * browser's `WebSocket` cannot send them: there `upgrade()` fails with 8504 if any are set.
   *
   * @throws {TypeError} for a name or value that cannot go in a header
   * @example
   * ```ts
   * import { Client } from "../../mod.ts";
   * new Client("127.0.0.1", 9502).setHeaders({ Authorization: "Bearer token" });
   * ```
   */
  setHeaders(headers: Record<string, string>): void {
    for (const [name, value] of Object.entries(headers ?? {})) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || typeof value !== "string") {
        throw new TypeError(`setHeaders(): "${name}" is not a header name with a string value`);
      }
      if (/[^\t\x20-\x7e\x80-\xff]/.test(value)) {
        throw new TypeError(
          `setHeaders(): the value of "${name}" has a character a header cannot carry`,
        );
      }
    }
    this.#requestHeaders = { ...headers };
  }

  /** Whether the WebSocket is open. */
  get connected(): boolean {
    return this.connection?.isOpen ?? false;
  }

  /**
   * Connects and upgrades `path` to a WebSocket, offering `protocols`. Resolves true once open;
   * false when it could not, with `statusCode`, `errCode` (`ERROR.CONNECTION_REFUSED`,
   * `ERROR.TIMEOUT`, `ERROR.WEBSOCKET_HANDSHAKE_FAILED`) and `errMsg` saying why.
   *
   * @throws {TypeError} for a path that does not start with "/"
   * @example
   * ```ts
   * import { Client } from "../../mod.ts";
   * const client = new Client("127.0.0.1", 9502);
   * if (!await client.upgrade("/chat", ["chat.v1"])) console.log(client.errMsg);
   * ```
   */
  async upgrade(path: string, protocols: string[] = []): Promise<boolean> {
    if (typeof path !== "string" || !path.startsWith("/")) {
      throw new TypeError(`upgrade(): pass a path that starts with "/", got ${path}`);
    }
    if (this.connection?.isOpen) {
      this.setError(ERROR.WEBSOCKET_HANDSHAKE_FAILED, "Cannot upgrade(): already upgraded");
      return false;
    }
    this.connection = undefined;
    const adapter = await clientAdapter();
    const connection = new WebSocketConnection(
      0,
      connectionContext(adapter.capabilities, this.#settings),
      ignore,
    );
    const host = this.host.includes(":") ? `[${this.host}]` : this.host;
    const handshake = await adapter.connect({
      url: `${this.ssl ? "wss" : "ws"}://${host}:${this.port}${path}`,
      protocols,
      headers: this.#requestHeaders,
      compression: this.#settings.websocket_compression,
      maxPayload: this.#settings.package_max_length,
      verifyPeer: this.#verifyPeer,
      timeoutMs: this.#timeout * 1000,
    }, connection);
    this.statusCode = handshake.status;
    this.headers = handshake.headers;
    this.protocol = handshake.protocol;
    const body = handshake.body;
    this.body = body && body.length > 0 ? bodyDecoder.decode(body) : "";
    if (handshake.error) {
      this.setError(handshake.error.code, `Cannot upgrade(): ${handshake.error.message}`);
      return false;
    }
    this.connection = connection;
    this.clearError();
    return true;
  }

  /**
   * Opens a client from a `ws://` or `wss://` URL, offering `protocols`.
   *
   * @throws {TypeError} for a URL that is not ws:// or wss://
   * @throws {Error} when the upgrade fails, with the client's `errMsg`
   * @example
   * ```ts
   * import { Client } from "../../mod.ts";
   * async function open() {
   *   const client = await Client.connect("ws://127.0.0.1:9502/websocket", { timeout: 3 });
   *   await client.push("hi");
   * }
   * ```
   */
  static async connect(
    url: string,
    settings: ClientSettings = {},
    protocols: string[] = [],
  ): Promise<Client> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new TypeError(`Client.connect(): pass a ws:// or wss:// URL, got ${url}`);
    }
    if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
      throw new TypeError(`Client.connect(): pass a ws:// or wss:// URL, got ${url}`);
    }
    const ssl = parsed.protocol === "wss:";
    const port = parsed.port === "" ? (ssl ? 443 : 80) : Number(parsed.port);
    const client = new Client(parsed.hostname.replace(/^\[|\]$/g, ""), port, ssl);
    client.set(settings);
    if (!await client.upgrade(`${parsed.pathname}${parsed.search}`, protocols)) {
      throw new Error(`Client.connect(${url}): ${client.errMsg}`);
    }
    return client;
  }
}

function ignore(): void {}
