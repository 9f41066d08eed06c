/**
 * The contract between the server and a runtime adapter: how it listens, mounts into a host
 * and hands over requests. An adapter only translates: it turns the runtime's requests and
 * socket events into these calls, and says in {@link RuntimeCapabilities} what the runtime
 * cannot do, so the core decides once what to do instead. The core's own contract with a
 * socket is src/core/link.ts, the client's with its adapters src/client/contract.ts.
 *
 * @module
 */

import type { NodeRequest, NodeResponse, NodeSocket } from "../http/host.ts";
import type { ResolvedSettings } from "../core/settings.ts";
import type { RuntimeCapabilities } from "../core/link.ts";
import type { HttpExchange } from "../http/exchange.ts";

export type { RuntimeCapabilities, WebSocketEvents, WebSocketLink } from "../core/link.ts";
export type { BodyResult, BodyWriter, HttpExchange, ResponseHead } from "../http/exchange.ts";

/** Where the server listens, and what it needs from the runtime there. */
export interface ListenOptions {
  host: string;
  port: number;
  reusePort: boolean;
  /** PEM certificate chain and private key: serve HTTPS and WSS. */
  tls: { cert: string; key: string } | undefined;
  settings: ResolvedSettings;
  /** Called for every request, upgrade requests included. */
  onRequest(exchange: HttpExchange): void;
}

/** A bound listener. */
export interface Listener {
  readonly host: string;
  readonly port: number;
  /** Stops accepting connections; open WebSockets are the core's to close. */
  close(): Promise<void>;
}

/** What serving requests that a host server hands over needs. */
export interface MountOptions {
  settings: ResolvedSettings;
  /** Called for every request handed over, upgrade requests included. */
  onRequest(exchange: HttpExchange): void;
}

/** The entries a host server hands its requests to; each adapter has the ones it can serve. */
export interface Mount {
  /**
   * A web-standard request from a host's fetch handler, with what the host passes beside it
   * (Deno's handler info, Bun's server, or `@hono/node-server`'s `{ incoming }`). Resolves
   * with the answer; undefined once Bun has upgraded the request.
   *
   * @throws {TypeError} when `env` is not what this runtime's host passes
   */
  fetch(request: Request, env: unknown): Promise<Response | undefined>;
  /** Node: an `upgrade` event of the host's `http.Server`. */
  upgrade?(request: NodeRequest, socket: NodeSocket, head: Uint8Array): void;
  /** Node: a `request` event of the host's `http.Server`. */
  request?(request: NodeRequest, response: NodeResponse): void;
}

/** A runtime adapter. */
export interface Adapter {
  readonly capabilities: RuntimeCapabilities;
  /**
   * Binds and starts serving; rejects when the address cannot be bound, with `code`
   * "EADDRINUSE" on the error when it is taken.
   */
  listen(options: ListenOptions): Promise<Listener>;
  /** Serves the requests a host server the user runs hands over. */
  mount(options: MountOptions): Mount;
}
