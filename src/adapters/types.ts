/**
 * The contract between the shared core and a runtime adapter. An adapter only translates: it
 * turns the runtime's requests and socket events into these calls, and says in
 * {@link RuntimeCapabilities} what the runtime cannot do, so the core decides once what to do
 * instead.
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { ResolvedSettings } from "../core/settings.ts";

/** What the runtime's WebSocket server can do; docs/runtimes.md mirrors it. */
export interface RuntimeCapabilities {
  /** `"deno"`, `"bun"` or `"node"`. */
  readonly runtime: string;
  /** Can send one message as several frames. */
  readonly fragments: boolean;
  /** Can negotiate permessage-deflate (`websocket_compression`). */
  readonly compression: boolean;
  /** Can stop reading from a socket. */
  readonly pause: boolean;
  /** Can drop a connection without sending a Close frame. */
  readonly terminate: boolean;
  /** Can send pings and pongs, and reports the ones it receives. */
  readonly controlFrames: boolean;
  /**
   * Pings a silent peer and drops it after `websocket_idle_timeout` by itself; where it cannot,
   * the core does it with a timer.
   */
  readonly idleTimeout: boolean;
  /**
   * Reports a close for a handshake whose client left before the 101 went out. Where it cannot
   * (Deno's socket then neither opens nor closes), the core waits for the open at most
   * `ABANDONED_HANDSHAKE_MS`, not the whole `websocket_close_timeout`.
   */
  readonly reportsAbandonedHandshake: boolean;
}

/** The core's handle on one open WebSocket. */
export interface WebSocketLink {
  /**
   * Sends a text (string) or binary (bytes) frame. `fin` is false only when
   * `capabilities.fragments` is true; the runtime numbers the continuation frames itself.
   * `compress` asks for permessage-deflate where the peer negotiated it (otherwise the runtime
   * sends the frame as it is); of a fragmented message, the first frame's decides.
   */
  send(data: string | Uint8Array, fin: boolean, compress: boolean): void;
  /** Sends a ping (only when `capabilities.controlFrames`). */
  ping(data: Uint8Array): void;
  /** Sends a pong (only when `capabilities.controlFrames`). */
  pong(data: Uint8Array): void;
  /** Sends a Close frame; the runtime finishes the handshake and then reports the close. */
  close(code: number, reason: string): void;
  /**
   * Closes the connection without a Close frame once the runtime has written everything
   * `send()` took: the peer gets the data, then the end of the stream (where the runtime cannot
   * drop a connection, its nearest equivalent: Deno sends Close 1000 after the data). The core
   * bounds the wait and calls `terminate()` for a peer that stopped reading.
   */
  end(): void;
  /** Drops the connection at once (where the runtime cannot, its nearest equivalent). */
  terminate(): void;
  /** Bytes accepted by `send()` that have not reached the socket yet. */
  readonly bufferedAmount: number;
  /** Asks for one `receiveDrain()` call once `bufferedAmount` may have dropped. */
  requestDrain(): void;
  /** Stops reading (only when `capabilities.pause`). */
  pause(): void;
  /** Starts reading again. */
  resume(): void;
}

/**
 * The events an adapter feeds into a connection. The adapter passes the runtime's close code
 * as it is (Deno reports 0 for an abnormal close); the core normalises it.
 */
export interface WebSocketEvents {
  receiveOpen(link: WebSocketLink): void;
  receiveMessage(data: string | Uint8Array): void;
  receivePing(data: Uint8Array): void;
  receivePong(data: Uint8Array): void;
  receiveClose(code: number, reason: string): void;
  receiveDrain(): void;
  /**
   * The runtime is closing the connection with `code` because the peer broke a rule (an
   * oversized message: 1009, bad UTF-8: 1007, any other: 1002); `receiveClose` follows. Only
   * where the runtime says so (Node's `ws`), so the core can report who closed and why.
   */
  receiveViolation(code: number): void;
}

/** A response head: status and headers in the order the handler set them. */
export interface ResponseHead {
  status: number;
  reason: string;
  headers: [string, string][];
}

/** One HTTP request as the adapter received it. */
export interface HttpExchange {
  readonly method: string;
  /** The request target: path and query, as sent. */
  readonly target: string;
  /**
   * Header names in lower case; repeated headers joined with ", ". A map that inherits nothing
   * (see `record.ts`): the names are the peer's.
   */
  readonly headers: Record<string, string>;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The port the request came in on; 0 where the runtime does not say. */
  readonly localPort: number;
  /**
   * The request body. `"too large"` as soon as it proves larger than `limit` bytes (answer
   * 413): the rest is thrown away as it arrives, never held in memory. `"stopped"` once `stop`
   * aborts first: reading stops, and the answer closes the connection.
   */
  readBody(limit: number, stop: AbortSignal): Promise<BodyResult>;
  /** Sends a whole response. */
  respond(head: ResponseHead, body: Uint8Array): void;
  /** Sends the head now and the body as it is written (chunked). */
  stream(head: ResponseHead): BodyWriter;
  /**
   * Completes the WebSocket handshake with `head.headers` added to the 101 and `protocol` as
   * the chosen subprotocol. Events go to `events`; `receiveOpen` fires once the runtime says
   * the socket is open. Returns false when the runtime refused the upgrade.
   */
  upgrade(head: ResponseHead, protocol: string | undefined, events: WebSocketEvents): boolean;
}

/** What {@link HttpExchange.readBody} gives. */
export type BodyResult = Uint8Array | "too large" | "stopped";

/** A response body being streamed. */
export interface BodyWriter {
  /** Resolves true once the runtime has taken `chunk` below its buffer limit, false when the client is gone. */
  write(chunk: Uint8Array): Promise<boolean>;
  /** Ends the body. */
  end(): void;
}

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

/** What a client adapter needs to open one WebSocket. */
export interface ClientConnectOptions {
  /** `ws://` or `wss://` URL. */
  url: string;
  /** Subprotocols to offer. */
  protocols: string[];
  /** Headers to add to the upgrade request. */
  headers: Record<string, string>;
  /** Offer permessage-deflate (only where `capabilities.compression`). */
  compression: boolean;
  /** Largest message accepted, in bytes. */
  maxPayload: number;
  /** Refuse a TLS certificate that does not verify. */
  verifyPeer: boolean;
  /** Gives up on connecting and the handshake after this many milliseconds. */
  timeoutMs: number;
}

/** How a client's opening handshake ended. */
export interface ClientHandshake {
  /** 101 once open; the server's status when it refused; 0 when no answer came. */
  status: number;
  /** The server's answer's headers, where the runtime shows them. */
  headers: Record<string, string>;
  /** The subprotocol the server chose, or "". */
  protocol: string;
  /** What went wrong, when it did not open: the errno-style code and a message. */
  error?: { code: number; message: string };
}

/** A runtime's WebSocket client. */
export interface ClientAdapter {
  readonly capabilities: RuntimeCapabilities;
  /**
   * Opens a WebSocket; `events.receiveOpen` fires once it is open, and the promise resolves
   * with how the handshake ended (open or not), never rejects.
   */
  connect(options: ClientConnectOptions, events: WebSocketEvents): Promise<ClientHandshake>;
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
  upgrade?(request: IncomingMessage, socket: Duplex, head: Uint8Array): void;
  /** Node: a `request` event of the host's `http.Server`. */
  request?(request: IncomingMessage, response: ServerResponse): void;
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
