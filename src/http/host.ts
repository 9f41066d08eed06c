/**
 * The host servers coro-ws can be mounted into, as far as it touches them: Node's `node:http`
 * objects and Bun's server, described by shape so that the package's types need neither
 * `@types/node` nor `@types/bun` (the real objects fit them).
 *
 * @module
 */

/**
 * A Node `http.IncomingMessage`: Express's `request`, Fastify's `request.raw`, Koa's `ctx.req`.
 *
 * @example
 * ```ts
 * import type { IncomingMessage } from "node:http";
 * import type { NodeRequest } from "../../mod.ts";
 * const accept = (request: IncomingMessage): NodeRequest => request;
 * ```
 */
export interface NodeRequest {
  /** The request target. */
  readonly url?: string;
  /** The method. */
  readonly method?: string;
  /** The headers, names in lower case. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Whether the body has been read to its end (by a body parser, when coro-ws did not). */
  readonly readableEnded: boolean;
}

/**
 * A Node `http.ServerResponse`.
 *
 * @example
 * ```ts
 * import type { ServerResponse } from "node:http";
 * import type { NodeResponse } from "../../mod.ts";
 * const accept = (response: ServerResponse): NodeResponse => response;
 * ```
 */
export interface NodeResponse {
  /** Sends the status line and headers. */
  writeHead(status: number): NodeResponse;
  /** Ends the response. */
  end(body?: string): unknown;
}

/**
 * The socket of a Node `upgrade` event (a `net.Socket`, or a `tls.TLSSocket` under HTTPS).
 *
 * @example
 * ```ts
 * import type { Socket } from "node:net";
 * import type { NodeSocket } from "../../mod.ts";
 * const accept = (socket: Socket): NodeSocket => socket;
 * ```
 */
export interface NodeSocket {
  /** Writes `data`, then ends the stream. */
  end(data: string): unknown;
}

/**
 * A Node `http.Server` or `https.Server`, under Express (`app.listen()`), Fastify
 * (`fastify.server`) or `@hono/node-server` (`serve()`) too.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * import type { NodeHttpServer } from "../../mod.ts";
 * const host: NodeHttpServer = createServer();
 * ```
 */
export interface NodeHttpServer {
  /** Listens to the `upgrade` event. */
  on(
    event: "upgrade",
    listener: (request: NodeRequest, socket: NodeSocket, head: Uint8Array) => void,
  ): unknown;
  /** How many listeners an event has. */
  listenerCount(event: "upgrade"): number;
  /** Stops accepting connections. */
  close(...args: never[]): unknown;
}

/**
 * What {@link Server.fetch} needs of Bun's server: with it, an upgraded request's answer is
 * undefined, as Bun's `fetch` must return then.
 *
 * @example
 * ```ts
 * import type { BunServerLike } from "../../mod.ts";
 * const fake: BunServerLike = { upgrade: () => false, requestIP: () => null };
 * ```
 */
export interface BunServerLike {
  /** Bun's `server.upgrade()`. */
  upgrade(request: Request, options?: unknown): boolean;
  /** Bun's `server.requestIP()`. */
  requestIP(request: Request): unknown;
}

/**
 * A socket in Bun's `websocket` handlers (`ServerWebSocket`): coro-ws's own carry its link as
 * their `data`.
 *
 * @example
 * ```ts
 * import type { BunSocket } from "../../mod.ts";
 * const ownedByAnother = (ws: BunSocket) => ws.data !== undefined;
 * ```
 */
export interface BunSocket {
  /** What the upgrade attached. */
  readonly data: unknown;
}

/**
 * The `websocket` option of a `Bun.serve` that hands requests to {@link Server.fetch}: Bun's
 * handlers, acting only on the sockets coro-ws upgraded, with coro-ws's limits.
 *
 * @example
 * ```ts
 * import { type BunWebSocketHandler, Server } from "../../mod.ts";
 * const handlers: BunWebSocketHandler = new Server("127.0.0.1").websocket;
 * ```
 */
export interface BunWebSocketHandler {
  /** A socket coro-ws upgraded opened. */
  open(ws: BunSocket): void;
  /** A message arrived. */
  message(ws: BunSocket, message: string | Uint8Array): void;
  /** A ping arrived. */
  ping(ws: BunSocket, data: Uint8Array): void;
  /** A pong arrived. */
  pong(ws: BunSocket, data: Uint8Array): void;
  /** The socket closed. */
  close(ws: BunSocket, code: number, reason: string): void;
  /** Bun wrote out what it had buffered. */
  drain(ws: BunSocket): void;
  /** `package_max_length`. */
  readonly maxPayloadLength: number;
  /** Bun never drops a send: coro-ws bounds what it buffers itself. */
  readonly backpressureLimit: number;
  /** False, for the same reason. */
  readonly closeOnBackpressureLimit: boolean;
  /** `websocket_compression`. */
  readonly perMessageDeflate: boolean;
  /** `websocket_idle_timeout`, in whole seconds up to Bun's 960. */
  readonly idleTimeout: number;
  /** Bun pings a silent peer. */
  readonly sendPings: boolean;
}
