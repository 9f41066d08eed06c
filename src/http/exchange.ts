/**
 * The HTTP layer's contract with a runtime adapter: one request as the adapter received it, and
 * the ways to answer it (a whole response, a streamed one, or a WebSocket upgrade).
 *
 * @module
 */

import type { WebSocketEvents } from "../core/link.ts";

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
  /** Whether the connection is TLS (https and wss). */
  readonly secure: boolean;
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
