/**
 * The request as a Swoole handler sees it.
 *
 * @module
 */

import type { HttpExchange } from "./exchange.ts";
import type { ResolvedSettings } from "../core/settings.ts";
import { parseMultipart, type UploadedFile } from "./multipart.ts";
import { createRecord, recordFrom } from "../core/record.ts";

const decoder = new TextDecoder();

/**
 * Swoole's `$request->server`: facts about the request and its connection.
 *
 * @example
 * ```ts
 * import { Server } from "../../mod.ts";
 * const server = new Server("127.0.0.1", 0);
 * server.handle("/", (request, response) => {
 *   const { request_method, path_info, remote_addr } = request.server;
 *   response.end(`${request_method} ${path_info} from ${remote_addr}`);
 * });
 * ```
 */
export interface ServerInfo {
  /** The method, e.g. "GET". */
  request_method: string;
  /** The path, without the query. */
  request_uri: string;
  /** The path, without the query (Swoole fills both). */
  path_info: string;
  /** The query without `?`; "" when there is none. */
  query_string: string;
  /** The protocol, "HTTP/1.1". */
  server_protocol: string;
  /** The port the server listens on. */
  server_port: number;
  /** The client's address. */
  remote_addr: string;
  /** The client's port. */
  remote_port: number;
  /** Seconds since the epoch when the request arrived. */
  request_time: number;
  /** The same, with fractions of a second. */
  request_time_float: number;
}

/**
 * One HTTP request, with Swoole's property names.
 *
 * @example Read the query and a header
 * ```ts
 * import { Server } from "../../mod.ts";
 * const server = new Server("127.0.0.1", 0);
 * server.handle("/", (request, response) => {
 *   response.end(`hello ${request.get.name ?? "stranger"} from ${request.header["user-agent"]}`);
 * });
 * ```
 */
export class Request {
  /** The connection number (unique per request; one WebSocket is one request). */
  readonly fd: number;
  /** Request headers, names in lower case. */
  readonly header: Record<string, string>;
  // The rest is made on first use: a WebSocket's request lives as long as the connection, and
  // most handlers never read most of it.
  readonly #method: string;
  readonly #target: string;
  readonly #remoteAddress: string;
  readonly #remotePort: number;
  readonly #serverPort: number;
  readonly #secure: boolean;
  /** When the request arrived, in milliseconds since the epoch. */
  readonly #arrived = Date.now();
  readonly #settings: ResolvedSettings;
  readonly #body: Uint8Array;
  #server: ServerInfo | undefined;
  #get: Record<string, string> | undefined;
  #post: Record<string, string> | undefined;
  #files: Record<string, UploadedFile> | undefined;
  #cookie: Record<string, string> | undefined;

  /**
   * Made by the server for each request; handlers receive it.
   *
   * @param exchange the request as the adapter received it
   * @param fd the connection number
   * @param body the request body, already read within `package_max_length`
   * @param settings which parts of the request to parse
   * @throws {MalformedBodyError} for a multipart body that is not well formed
   */
  constructor(
    exchange: HttpExchange,
    fd: number,
    body: Uint8Array,
    settings: ResolvedSettings,
  ) {
    this.fd = fd;
    this.header = exchange.headers;
    this.#method = exchange.method;
    this.#target = exchange.target;
    this.#remoteAddress = exchange.remoteAddress;
    this.#remotePort = exchange.remotePort;
    this.#serverPort = exchange.localPort;
    this.#secure = exchange.secure;
    this.#settings = settings;
    this.#body = body;
    if (body.byteLength === 0) return;
    // Parsed now, not on first use: a malformed body is answered 400 before the handler runs.
    const type = exchange.headers["content-type"] ?? "";
    const kind = type.toLowerCase();
    if (settings.http_parse_post && kind.startsWith("application/x-www-form-urlencoded")) {
      this.#post = recordFrom(new URLSearchParams(decoder.decode(body)));
    } else if (kind.startsWith("multipart/form-data")) {
      const { fields, files } = parseMultipart(body, type);
      if (settings.http_parse_post) this.#post = fields;
      if (settings.http_parse_files) this.#files = files;
    }
  }

  /** See {@link ServerInfo}. */
  get server(): ServerInfo {
    if (this.#server) return this.#server;
    const queryAt = this.#target.indexOf("?");
    const path = targetPath(this.#target);
    const seconds = this.#arrived / 1000;
    this.#server = {
      request_method: this.#method,
      request_uri: path,
      path_info: path,
      query_string: queryAt < 0 ? "" : this.#target.slice(queryAt + 1),
      server_protocol: "HTTP/1.1",
      server_port: this.#serverPort,
      remote_addr: this.#remoteAddress,
      remote_port: this.#remotePort,
      request_time: Math.floor(seconds),
      request_time_float: seconds,
    };
    return this.#server;
  }

  /** Query parameters; for a repeated name the last value wins, as in PHP. */
  get get(): Record<string, string> {
    return this.#get ??= recordFrom(new URLSearchParams(this.server.query_string));
  }

  /**
   * Fields of an `application/x-www-form-urlencoded` body (with `http_parse_post`); for a
   * repeated name the last value wins.
   */
  get post(): Record<string, string> {
    return this.#post ??= createRecord();
  }

  /** Uploaded files of a `multipart/form-data` body, by field name (with `http_parse_files`). */
  get files(): Record<string, UploadedFile> {
    return this.#files ??= createRecord();
  }

  /** Cookies, URL-decoded (with `http_parse_cookie`). */
  get cookie(): Record<string, string> {
    const cookies = this.header.cookie;
    return this.#cookie ??= cookies && this.#settings.http_parse_cookie
      ? parseCookies(cookies)
      : createRecord();
  }

  /**
   * The request as a web-standard `Request` (a new one per call), for code written against
   * the Fetch API.
   *
   * @example
   * ```ts
   * import { Server } from "../../mod.ts";
   * new Server("127.0.0.1", 0).handle("/api", async (request, response) => {
   *   const web = request.toWeb();
   *   response.end(`${new URL(web.url).pathname} ${await web.text()}`);
   * });
   * ```
   */
  toWeb(): globalThis.Request {
    // The Host header is the client's: one that is not a host name or address with an optional
    // port could move the path (`x/admin?`), so the URL gets a neutral host instead.
    const claimed = this.header.host ?? "";
    const host = HOST.test(claimed) ? claimed : `localhost:${this.server.server_port}`;
    const target = this.server.request_uri +
      (this.server.query_string ? `?${this.server.query_string}` : "");
    const method = this.#method;
    const scheme = this.#secure ? "https" : "http";
    return new globalThis.Request(`${scheme}://${host}${target}`, {
      method,
      headers: this.header,
      body: method === "GET" || method === "HEAD" ? undefined : this.#body.slice(),
    });
  }

  /**
   * The request method, e.g. `"POST"`.
   *
   * @example
   * ```ts
   * import { Server } from "../../mod.ts";
   * new Server("127.0.0.1", 0).handle("/", (request, response) => {
   *   response.end(request.getMethod() === "POST" ? "created" : "hello");
   * });
   * ```
   */
  getMethod(): string {
    return this.#method;
  }

  /**
   * The request body as text (UTF-8); "" when there is none.
   *
   * @example
   * ```ts
   * import { Server } from "../../mod.ts";
   * new Server("127.0.0.1", 0).handle("/echo", (request, response) => {
   *   response.end(request.getContent());
   * });
   * ```
   */
  getContent(): string {
    return decoder.decode(this.#body);
  }

  /**
   * The request body as bytes. (In PHP a string holds bytes, so Swoole's `rawContent()` and
   * `getContent()` are one; here text and bytes differ.)
   *
   * @example
   * ```ts
   * import { Server } from "../../mod.ts";
   * new Server("127.0.0.1", 0).handle("/upload", (request, response) => {
   *   response.end(`${request.rawContent().byteLength} bytes`);
   * });
   * ```
   */
  rawContent(): Uint8Array {
    return this.#body;
  }
}

/**
 * The path of a request target (origin or absolute form) without its query and with its
 * dot-segments removed
 * (RFC 3986 §5.2.4, `%2E` counting as a dot), so that it never climbs above `/`:
 * `/static/../../etc/hostname` is `/etc/hostname`. Routing and `path_info` both use it.
 */
export function targetPath(target: string): string {
  const queryAt = target.indexOf("?");
  let path = queryAt < 0 ? target : target.slice(0, queryAt);
  // The absolute form (`GET http://host/path`, as sent to proxies) routes by its path.
  if (/^https?:\/\//i.test(path)) {
    const pathAt = path.indexOf("/", path.indexOf("//") + 2);
    path = pathAt < 0 ? "/" : path.slice(pathAt);
  }
  if (!DOT_SEGMENT.test(path) || !path.startsWith("/")) return path;
  const kept: string[] = [];
  const segments = path.slice(1).split("/");
  segments.forEach((segment, i) => {
    const dots = segment.replace(/%2e/gi, ".");
    if (dots === "..") kept.pop();
    if (dots === "." || dots === "..") {
      if (i === segments.length - 1) kept.push(""); // "/a/.." is the folder "/", not "/a".
    } else {
      kept.push(segment);
    }
  });
  return `/${kept.join("/")}`;
}

/** A host name, IPv4 or bracketed IPv6 address, with an optional port. */
const HOST = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/;

/** A segment that starts with a dot, plain or percent-encoded. */
const DOT_SEGMENT = /\/(\.|%2e)/i;

function parseCookies(header: string): Record<string, string> {
  const cookies = createRecord<string>();
  for (const pair of header.split(";")) {
    const equals = pair.indexOf("=");
    if (equals < 0) continue;
    const name = pair.slice(0, equals).trim();
    if (name) cookies[name] = safeDecode(pair.slice(equals + 1).trim());
  }
  return cookies;
}

/** A malformed escape keeps the raw text instead of failing the whole request. */
function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
