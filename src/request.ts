/**
 * The request as a Swoole handler sees it.
 *
 * @module
 */

import type { HttpExchange } from "./adapters/types.ts";

/**
 * Swoole's `$request->server`: facts about the request and its connection.
 *
 * @example
 * ```ts
 * import { Server } from "../mod.ts";
 * const server = new Server("127.0.0.1", 0);
 * server.handle("/", (request, response) => {
 *   const { request_method, path_info, remote_addr } = request.server;
 *   response.end(`${request_method} ${path_info} from ${remote_addr}`);
 * });
 * ```
 */
export interface ServerInfo {
  request_method: string;
  /** The path, without the query. */
  request_uri: string;
  /** The path, without the query (Swoole fills both). */
  path_info: string;
  /** The query without `?`; "" when there is none. */
  query_string: string;
  server_protocol: string;
  server_port: number;
  remote_addr: string;
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
 * import { Server } from "../mod.ts";
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
  /** See {@link ServerInfo}. */
  readonly server: ServerInfo;
  /** Query parameters; for a repeated name the last value wins, as in PHP. */
  readonly get: Record<string, string>;
  /** Cookies, URL-decoded. */
  readonly cookie: Record<string, string>;

  /**
   * @param exchange the request as the adapter received it
   * @param fd the connection number
   * @param serverPort the port the server listens on
   */
  constructor(exchange: HttpExchange, fd: number, serverPort: number) {
    const now = Date.now() / 1000;
    const queryAt = exchange.target.indexOf("?");
    const path = queryAt < 0 ? exchange.target : exchange.target.slice(0, queryAt);
    const query = queryAt < 0 ? "" : exchange.target.slice(queryAt + 1);
    this.fd = fd;
    this.header = exchange.headers;
    this.server = {
      request_method: exchange.method,
      request_uri: path,
      path_info: path,
      query_string: query,
      server_protocol: "HTTP/1.1",
      server_port: serverPort,
      remote_addr: exchange.remoteAddress,
      remote_port: exchange.remotePort,
      request_time: Math.floor(now),
      request_time_float: now,
    };
    this.get = Object.fromEntries(new URLSearchParams(query));
    this.cookie = parseCookies(exchange.headers.cookie ?? "");
  }
}

function parseCookies(header: string): Record<string, string> {
  const cookies: Record<string, string> = {};
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
