/**
 * The response a handler writes to: plain HTTP, or a WebSocket after `upgrade()`.
 *
 * Why this file is long: `Response` is the handler's whole API, Swoole's HTTP and WebSocket
 * methods on one object, and their JSDoc with examples is a third of it; the WebSocket side
 * itself lives in src/core (see `WebSocketEndpoint`).
 *
 * @module
 */

import { deflateSync, gzipSync } from "node:zlib";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { BodyWriter, HttpExchange, ResponseHead } from "./exchange.ts";
import { CLOSE, ERROR } from "../core/constants.ts";
import { describe } from "../core/checks.ts";
import { WebSocketConnection } from "../core/connection.ts";
import type { ConnectionContext } from "../core/context.ts";
import { type FrameData, toBytes } from "../core/frame.ts";
import { targetPath } from "./request.ts";
import { escapeForLog, now } from "../core/observer.ts";
import { WebSocketEndpoint } from "../core/endpoint.ts";

const FALSE = Promise.resolve(false);
const NO_BYTES = new Uint8Array(0);
const NO_HEADERS: [string, string][] = [];
/** Statuses whose response has no body (RFC 9110 §6.4.1, §15.3.5, §15.3.6, §15.4.5). */
const NULL_BODY_STATUSES = new Set([204, 205, 304]);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** What a response needs from its server. */
export interface ResponseContext extends ConnectionContext {
  /** Called when a connection starts its handshake, and when it has closed. */
  track(connection: WebSocketConnection, open: boolean): void;
  /** Called when an upgraded connection is open, and when it has closed. */
  register(response: Response, open: boolean): void;
  /** Adds `response` to `topic`'s subscribers, or removes it. */
  subscribe(response: Response, topic: string, subscribed: boolean): void;
}

/**
 * Completes a response after its handler has settled: closes an upgraded connection (1000,
 * or 1011 when the handler threw) and answers a request the handler left unanswered.
 */
export let finishResponse: (response: Response, failed: boolean) => void;

/**
 * Sends a whole message to an upgraded connection now, or skips it when the connection cannot
 * take it without waiting (see {@link WebSocketConnection.offer}): the server's fan-out.
 */
export let offerMessage: (response: Response, data: FrameData, compress: boolean) => boolean;

/**
 * A cookie's attributes after its name and value, in Swoole's order: `expires` (Unix seconds,
 * 0 for a session cookie), `path` ("/"), `domain`, `secure`, `httponly`, `samesite`.
 *
 * @example
 * ```ts
 * import type { CookieAttributes } from "../../mod.ts";
 * const session: CookieAttributes = [0, "/", "", true, true, "Lax"];
 * ```
 */
export type CookieAttributes = [
  expires?: number,
  path?: string,
  domain?: string,
  secure?: boolean,
  httponly?: boolean,
  samesite?: string,
];

/**
 * The handler's side of one request: an HTTP response, or after {@link Response.upgrade} a
 * WebSocket connection with `recv()`, `push()` and `close()`.
 *
 * @example Echo every message
 * ```ts
 * import { Server } from "../../mod.ts";
 * const server = new Server("127.0.0.1", 0);
 * server.handle("/ws", async (request, ws) => {
 *   if (!await ws.upgrade()) return;
 *   for await (const frame of ws) await ws.push(frame.data);
 * });
 * ```
 */
export class Response extends WebSocketEndpoint {
  /** The connection number; also each received frame's `fd`. */
  readonly fd: number;

  /** Dropped once the response is sent or upgraded: it can hold the runtime's whole request. */
  #exchange: HttpExchange | undefined;
  readonly #context: ResponseContext;
  #status = 200;
  #statusSet = false;
  #reason = "";
  #headers: [string, string][] = [];
  #ended = false;
  /** The topics this connection is subscribed to. */
  #topics: Set<string> | undefined;
  /** Set by the first write(): the head is sent, the body streams. */
  #writer: BodyWriter | undefined;
  /** When the request came, for the access log. */
  readonly #started = now();
  /** A streamed body's request and size so far, for the access log at its end. */
  #streamed: { method: string; path: string; status: number; bytes: number } | undefined;

  static {
    finishResponse = (response, failed) => response.#finish(failed);
    offerMessage = (response, data, compress) =>
      response.connection?.offer(data, compress) ?? false;
  }

  /**
   * Made by the server for each request; handlers receive it.
   *
   * @param exchange the request as the adapter received it
   * @param fd the connection number
   * @param context the server's side
   */
  constructor(exchange: HttpExchange, fd: number, context: ResponseContext) {
    super();
    this.#exchange = exchange;
    this.fd = fd;
    this.#context = context;
  }

  // ---- HTTP ----

  /**
   * Sets the status code, and optionally the reason phrase.
   *
   * @returns false once the response was sent
   * @throws {TypeError} for a code that is not a number (a string of digits is taken)
   * @throws {RangeError} for a code outside 200-599
   * @example
   * ```ts
   * import type { Response } from "../../mod.ts";
   * function notFound(response: Response) {
   *   response.status(404);
   *   response.end("no such page");
   * }
   * ```
   */
  status(code: number | string, reason = ""): boolean {
    // Swoole takes "404" too.
    const number = typeof code === "string" && /^\d+$/.test(code) ? Number(code) : code;
    if (typeof number !== "number") {
      throw new TypeError(`Cannot status(${describe(code)}): pass a status code such as 404`);
    }
    // 1xx are not final answers, and the web runtimes cannot send a code past 599.
    if (!Number.isInteger(number) || number < 200 || number > 599) {
      throw new RangeError(`Cannot status(${code}): pass a whole number from 200 to 599`);
    }
    assertFieldValue("status reason", reason);
    if (this.#ended || this.#writer) return false;
    this.#status = number;
    this.#reason = reason;
    this.#statusSet = true;
    return true;
  }

  /**
   * Sets a response header, replacing one of the same name (ignoring case) as Swoole does;
   * it goes into the 101 when set before `upgrade()`. Cookies have `cookie()`.
   *
   * @returns false once the response was sent
   * @throws {TypeError} for a name that is not a token, or a control character or a character
   * beyond U+00FF in the value
   * @example Choose a subprotocol
   * ```ts
   * import type { Response } from "../../mod.ts";
   * async function chat(response: Response) {
   *   response.header("Sec-WebSocket-Protocol", "chat.v2");
   *   await response.upgrade();
   * }
   * ```
   */
  header(key: string, value: string): boolean {
    if (!TOKEN.test(key)) throw new TypeError(`Cannot set header "${key}": invalid header name`);
    assertFieldValue(`header "${key}"`, value);
    if (this.#ended || this.#writer) return false;
    const name = key.toLowerCase();
    const same = this.#headers.findIndex(([other]) => other.toLowerCase() === name);
    if (same === -1 || name === "set-cookie") this.#headers.push([key, String(value)]);
    else this.#headers[same] = [key, String(value)];
    return true;
  }

  /**
   * Sets a cookie: `Set-Cookie` with the value URL-encoded (Swoole's `cookie()`). `expires`
   * is a Unix time in seconds (0: a session cookie).
   *
   * @returns false once the response was sent
   * @throws {TypeError} for a name that is not a token, or a CR, LF or `;` in an attribute
   * @example
   * ```ts
   * import type { Response } from "../../mod.ts";
   * function login(response: Response) {
   *   const week = Math.floor(Date.now() / 1000) + 7 * 86400;
   *   response.cookie("session", "a b", week, "/", "", true, true, "Lax");
   *   response.end("welcome");
   * }
   * ```
   */
  cookie(name: string, value = "", ...attributes: CookieAttributes): boolean {
    return this.rawcookie(name, encodeURIComponent(value), ...attributes);
  }

  /**
   * Sets a cookie with the value as given (Swoole's `rawcookie()`).
   *
   * @returns false once the response was sent
   * @throws {TypeError} for a name that is not a token, or a CR, LF, `;` or `,` in the value
   * or an attribute
   * @example
   * ```ts
   * import type { Response } from "../../mod.ts";
   * function remember(response: Response) {
   *   response.rawcookie("theme", "dark");
   * }
   * ```
   */
  rawcookie(name: string, value = "", ...attributes: CookieAttributes): boolean {
    const [expires = 0, path = "/", domain = "", secure = false, httponly = false, samesite = ""] =
      attributes;
    if (!TOKEN.test(name)) throw new TypeError(`Cannot set cookie "${name}": invalid name`);
    for (
      const [what, text] of [["value", value], ["path", path], ["domain", domain], [
        "samesite",
        samesite,
      ]]
    ) {
      if (/[\r\n;,]/.test(text)) {
        throw new TypeError(`Cannot set cookie "${name}": CR, LF, ";" or "," in its ${what}`);
      }
    }
    let cookie = `${name}=${value}`;
    if (expires > 0) {
      const maxAge = Math.max(0, Math.floor(expires - Date.now() / 1000));
      cookie += `; expires=${new Date(expires * 1000).toUTCString()}; Max-Age=${maxAge}`;
    }
    if (path) cookie += `; path=${path}`;
    if (domain) cookie += `; domain=${domain}`;
    if (secure) cookie += "; secure";
    if (httponly) cookie += "; HttpOnly";
    if (samesite) cookie += `; SameSite=${samesite}`;
    return this.header("Set-Cookie", cookie);
  }

  /**
   * Redirects: sets `Location` and the status (302 unless given), then ends the response.
   *
   * @returns false once the response was sent
   * @throws {TypeError} for a control character or a character beyond U+00FF in `url`
   * (percent-encode it with `encodeURI()`)
   * @example
   * ```ts
   * import { Server } from "../../mod.ts";
   * new Server("127.0.0.1", 0).handle("/old", (request, response) => {
   *   response.redirect("/new", 301);
   * });
   * ```
   */
  redirect(url: string, code = 302): boolean {
    if (this.#ended) return false;
    this.header("Location", url);
    this.status(code);
    return this.end();
  }

  /**
   * Whether the response can still be sent (Swoole's `isWritable()`).
   *
   * @example
   * ```ts
   * import type { Response } from "../../mod.ts";
   * function finish(response: Response) {
   *   if (response.isWritable()) response.end("done");
   * }
   * ```
   */
  isWritable(): boolean {
    return !this.#ended;
  }

  /**
   * Streams a piece of the body (chunked transfer): the first call sends the status and
   * headers. Resolves true once the runtime has taken the chunk (waiting while the client
   * reads slowly), false when the client has gone or the response was already ended.
   * `end()` finishes the body.
   *
   * @example
   * ```ts
   * import { Server } from "../../mod.ts";
   * new Server("127.0.0.1", 0).handle("/count", async (request, response) => {
   *   for (let i = 1; i <= 3; i++) {
   *     if (!await response.write(`${i}\n`)) return; // the client left
   *   }
   *   response.end();
   * });
   * ```
   */
  write(chunk: string | Uint8Array): Promise<boolean> {
    if (this.#ended || this.connection) return FALSE;
    this.#writer ??= this.#startStream();
    const bytes = toBytes(chunk);
    this.#streamed!.bytes += bytes.byteLength;
    return this.#writer.write(bytes);
  }

  /**
   * Sends `length` bytes of a file from `offset` (0: to its end), streamed from disk without
   * loading it; sets `Content-Type` from the extension unless a header set it. Resolves false
   * when the file cannot be read (nothing is sent then) or the client has gone. To serve a
   * folder, join it with `request.server.path_info`, which has no dot-segments left and so
   * cannot climb out of it; the file system still follows symbolic links inside it.
   *
   * @throws {RangeError} for a negative offset or length
   * @example
   * ```ts
   * import { Server } from "../../mod.ts";
   * new Server("127.0.0.1", 0).handle("/logo.svg", async (request, response) => {
   *   if (!await response.sendfile("./static/logo.svg")) response.status(404);
   * });
   * ```
   */
  async sendfile(path: string, offset = 0, length = 0): Promise<boolean> {
    if (offset < 0 || length < 0) {
      throw new RangeError(`Cannot send ${path}: offset and length must be 0 or more`);
    }
    if (this.#ended || this.#writer || this.connection) return false;
    let size: number;
    try {
      const info = await stat(path);
      if (!info.isFile()) throw new Error("not a file");
      size = info.size;
    } catch (error) {
      return this.#sendfileFailed(
        ERROR.FILE_NOT_FOUND,
        `Cannot send ${path}: ${(error as Error).message}`,
      );
    }
    if (offset > 0 && offset >= size) {
      return this.#sendfileFailed(
        ERROR.RANGE_NOT_SATISFIABLE,
        `Cannot send ${path}: offset ${offset} is past its end (${size} bytes)`,
      );
    }
    const end = length > 0 ? Math.min(size, offset + length) : size;
    if (!this.#headers.some(([name]) => name.toLowerCase() === "content-type")) {
      this.header("Content-Type", contentTypeOf(path));
    }
    if (end > offset) {
      const file = createReadStream(path, { start: offset, end: end - 1 });
      try {
        for await (const chunk of file) {
          if (!await this.write(chunk as Uint8Array)) return false;
        }
      } finally {
        file.destroy();
      }
    }
    return this.end();
  }

  #sendfileFailed(code: number, message: string): false {
    this.setError(code, message);
    this.#context.observer.error(`sendfile() for fd ${this.fd}: ${message}`);
    return false;
  }

  #startStream(): BodyWriter {
    const exchange = this.#exchange!;
    const writer = exchange.stream(this.#head());
    this.#streamed = {
      method: exchange.method,
      path: targetPath(exchange.target),
      status: this.#status,
      bytes: 0,
    };
    this.#exchange = undefined;
    this.#headers = [];
    return writer;
  }

  /**
   * Sends the response with `body`; only the first call sends.
   *
   * @returns false when the response was already sent or upgraded
   * @example
   * ```ts
   * import type { Response } from "../../mod.ts";
   * function hello(response: Response) {
   *   response.header("Content-Type", "text/html");
   *   response.end("<h1>hello</h1>");
   * }
   * ```
   */
  end(body: string | Uint8Array = ""): boolean {
    if (this.#ended) return false;
    if (this.#writer) {
      this.#ended = true;
      const bytes = toBytes(body);
      if (bytes.byteLength > 0) void this.#writer.write(bytes);
      this.#writer.end();
      this.#writer = undefined;
      const { method, path, status, bytes: sent } = this.#streamed!;
      this.#context.observer.responded(
        method,
        path,
        status,
        sent + bytes.byteLength,
        this.#started,
      );
      return true;
    }
    // A status that forbids a body (204, 304, ...) goes without one on every runtime.
    const bytes = NULL_BODY_STATUSES.has(this.#status) ? NO_BYTES : this.#compress(toBytes(body));
    // Throws if the runtime refuses the head: the response stays unsent, so the server can
    // still answer 500 once the handler has settled.
    const exchange = this.#exchange!;
    exchange.respond(this.#head(), bytes);
    this.#context.observer.responded(
      exchange.method,
      targetPath(exchange.target),
      this.#status,
      bytes.byteLength,
      this.#started,
    );
    this.#ended = true;
    this.#exchange = undefined;
    this.#headers = [];
    return true;
  }

  /** `body`, gzip- or deflate-compressed when the settings and the client allow it. */
  #compress(body: Uint8Array): Uint8Array {
    const settings = this.#context.settings;
    if (!settings.http_compression || body.byteLength < settings.http_compression_min_length) {
      return body;
    }
    if (this.#headers.some(([name]) => name.toLowerCase() === "content-encoding")) return body;
    const accepted = (this.#exchange!.headers["accept-encoding"] ?? "").toLowerCase();
    const encoding = /\bgzip\b/.test(accepted)
      ? "gzip"
      : /\bdeflate\b/.test(accepted)
      ? "deflate"
      : undefined;
    if (!encoding) return body;
    const level = settings.http_compression_level;
    // A length the handler set is the uncompressed one: the runtime counts the sent body.
    this.#headers = this.#headers.filter(([name]) => name.toLowerCase() !== "content-length");
    this.#headers.push(["Content-Encoding", encoding], ["Vary", "Accept-Encoding"]);
    return encoding === "gzip" ? gzipSync(body, { level }) : deflateSync(body, { level });
  }

  // ---- WebSocket ----

  /**
   * Answers the upgrade request with 101, with the headers set so far. Resolves true once the
   * connection is open; false (and a 400 answer) when the request is not a valid upgrade.
   *
   * @example
   * ```ts
   * import type { Response } from "../../mod.ts";
   * async function accept(response: Response) {
   *   if (!await response.upgrade()) return; // the client got 400
   *   await response.push("welcome");
   * }
   * ```
   */
  upgrade(): Promise<boolean> {
    const exchange = this.#exchange;
    if (this.#ended || !exchange) {
      this.setError(ERROR.WEBSOCKET_HANDSHAKE_FAILED, "Cannot upgrade: the response was sent");
      return FALSE;
    }
    const problem = upgradeProblem(exchange);
    if (problem) return this.#refuseUpgrade(400, `Bad WebSocket upgrade: ${problem}`);
    const origin = exchange.headers.origin;
    const allowed = this.#context.settings.allowed_origins;
    if (origin !== undefined && !allowed.includes("*") && !allowed.includes(origin)) {
      // A browser page from another site must not reach this socket with the user's cookies.
      return this.#refuseUpgrade(403, `Origin ${origin} is not allowed`);
    }
    this.#ended = true;
    const offered = offeredProtocols(exchange.headers);
    let protocol: string | undefined;
    this.#headers = this.#headers.filter(([name, value]) => {
      if (name.toLowerCase() !== "sec-websocket-protocol") return true;
      // RFC 6455 §4.2.2: only an offered protocol may be chosen (Deno throws otherwise).
      if (offered.includes(value)) protocol = value;
      return false;
    });
    const observer = this.#context.observer;
    const path = targetPath(exchange.target);
    const connection = new WebSocketConnection(
      this.fd,
      this.#context,
      (closed) => {
        this.#context.track(closed, false);
        this.#context.register(this, false);
        for (const topic of this.#topics ?? []) this.#context.subscribe(this, topic, false);
        this.#topics = undefined;
        observer.websocketClosed(
          path,
          closed.closeCode,
          closed.closedBy === "peer",
          this.#started,
          closed.traffic,
        );
      },
    );
    const head = { status: 101, reason: "", headers: this.#headers };
    if (!exchange.upgrade(head, protocol, connection)) {
      // Answered all the same: a request left unanswered holds its socket (on Deno, for good).
      this.#ended = false;
      void this.#refuseUpgrade(400, "Bad WebSocket upgrade: the runtime refused it");
      this.setError(ERROR.WEBSOCKET_HANDSHAKE_FAILED, "Cannot upgrade: the runtime refused");
      return FALSE;
    }
    this.connection = connection;
    this.#exchange = undefined;
    observer.responded(exchange.method, path, 101, 0, this.#started);
    this.#headers = NO_HEADERS; // Never added to: the response is ended.
    // Tracked from now, not from open: shutdown must also end a handshake that never opens.
    this.#context.track(connection, true);
    return connection.whenOpen().then((open) => {
      if (open) this.#context.register(this, true);
      return open;
    });
  }

  #refuseUpgrade(status: number, problem: string): Promise<boolean> {
    this.setError(ERROR.WEBSOCKET_BAD_CLIENT, `Cannot upgrade: ${problem}`);
    this.#headers = [["Content-Type", "text/plain"]];
    this.#status = status;
    this.#reason = "";
    this.end(`${problem}\n`);
    return FALSE;
  }

  /**
   * Subscribes this connection to `topic`: {@link Server.publish} to it reaches this
   * connection until it unsubscribes or closes.
   *
   * @returns false when the connection is not open
   * @example
   * ```ts
   * import { Server } from "../../mod.ts";
   * const server = new Server("127.0.0.1", 0);
   * server.handle("/room", async (request, ws) => {
   *   if (!await ws.upgrade()) return;
   *   ws.subscribe(`room:${request.get.name}`);
   *   for await (const frame of ws) server.publish(`room:${request.get.name}`, String(frame.data));
   * });
   * ```
   */
  subscribe(topic: string): boolean {
    if (!this.connection?.isOpen) return false;
    this.#topics ??= new Set();
    if (!this.#topics.has(topic)) {
      this.#topics.add(topic);
      this.#context.subscribe(this, topic, true);
    }
    return true;
  }

  /**
   * Unsubscribes this connection from `topic`.
   *
   * @returns false when it was not subscribed
   * @example
   * ```ts
   * import type { Response } from "../../mod.ts";
   * function leave(ws: Response, room: string) {
   *   ws.unsubscribe(`room:${room}`);
   * }
   * ```
   */
  unsubscribe(topic: string): boolean {
    if (!this.#topics?.delete(topic)) return false;
    this.#context.subscribe(this, topic, false);
    return true;
  }

  // ---- internals ----

  /** The status and headers; `Content-Type: text/html` unless set, as Swoole sends. */
  #head(): ResponseHead {
    const headers = this.#headers;
    if (
      !NULL_BODY_STATUSES.has(this.#status) &&
      !headers.some(([name]) => name.toLowerCase() === "content-type")
    ) {
      // Without one, Bun sends application/octet-stream and browsers download the page.
      headers.push(["Content-Type", "text/html"]);
    }
    return { status: this.#status, reason: this.#reason, headers };
  }

  #finish(failed: boolean): void {
    if (this.connection) {
      if (this.connection.isOpen) {
        void this.connection.disconnect(failed ? CLOSE.SERVER_ERROR : CLOSE.NORMAL, "");
      } else {
        this.connection.close();
      }
      return;
    }
    if (this.#ended) return;
    if (this.#writer) {
      this.end(); // The head went out with the first write(): finish the body as it is.
      return;
    }
    // Swoole's rule: a handler that set a status but sent nothing sends an empty body.
    if (!failed && this.#statusSet) {
      try {
        this.end();
        return;
      } catch {
        // The runtime refused the handler's head: answer 500 instead.
      }
    }
    if (!failed) this.#logForgotten();
    this.#status = 500;
    this.#reason = "";
    this.#headers = [];
    this.end();
  }

  /** Says what a handler that returned without answering forgot; the client gets 500. */
  #logForgotten(): void {
    const exchange = this.#exchange!;
    const upgrading = exchange.headers.upgrade?.toLowerCase() === "websocket";
    const missing = upgrading ? "upgrade() or end()" : "end()";
    const after = this.errCode ? ` (after: ${this.errMsg})` : "";
    this.#context.observer.error(
      `the handler for ${escapeForLog(exchange.method)} ` +
        `${escapeForLog(targetPath(exchange.target))} (fd ${this.fd}) ` +
        `returned without ${missing}${after}: answered 500`,
    );
  }
}

/** A value as an error message shows it: strings quoted, objects by kind. */
/**
 * Refuses what RFC 9110 does not allow in a field value: control characters other than HTAB
 * (CR and LF would inject headers; runtimes crash or refuse on the others), and characters
 * beyond U+00FF, which a header cannot carry (written as Latin-1, U+010D U+010A become CR LF).
 */
function assertFieldValue(what: string, value: string): void {
  if (/[^\t\x20-\x7e\x80-\xff]/.test(value)) {
    throw new TypeError(
      `Cannot set ${what}: it contains a control character or a character beyond U+00FF; ` +
        "percent-encode it (encodeURI for a URL)",
    );
  }
}

/** Content types for the files a web server sends most. */
const CONTENT_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  json: "application/json",
  txt: "text/plain; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  wasm: "application/wasm",
  pdf: "application/pdf",
};

function contentTypeOf(path: string): string {
  const extension = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  return CONTENT_TYPES[extension] ?? "application/octet-stream";
}

/** Why the request cannot be upgraded (RFC 6455 §4.2.1), or undefined when it can. */
function upgradeProblem(exchange: HttpExchange): string | undefined {
  const headers = exchange.headers;
  if (exchange.method !== "GET") return `method is ${exchange.method}, not GET`;
  // Only websocket: a list (RFC 9110 allows one) is refused by ws, so by every runtime here.
  if ((headers.upgrade ?? "").trim().toLowerCase() !== "websocket") {
    return "the Upgrade header is not websocket";
  }
  if (!/(^|,)\s*upgrade\s*($|,)/i.test(headers.connection ?? "")) {
    return "the Connection header does not include upgrade";
  }
  if (headers["sec-websocket-version"] !== "13") return "Sec-WebSocket-Version is not 13";
  const key = headers["sec-websocket-key"] ?? "";
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key)) {
    return "Sec-WebSocket-Key is not 16 bytes in base64";
  }
  if (headers["sec-websocket-protocol"] !== undefined) {
    // RFC 6455 §4.1: a list of distinct tokens.
    const names = offeredProtocols(headers);
    if (names.some((name) => !TOKEN.test(name)) || new Set(names).size !== names.length) {
      return "Sec-WebSocket-Protocol is not a list of distinct tokens";
    }
  }
  return undefined;
}

/** The subprotocols the client offered, in its order. */
function offeredProtocols(headers: Record<string, string>): string[] {
  return (headers["sec-websocket-protocol"] ?? "").split(",").map((name) => name.trim());
}
