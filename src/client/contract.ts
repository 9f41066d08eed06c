/**
 * The client's contract with a runtime's WebSocket client: how to open one connection
 * ({@link ClientConnectOptions}), how its handshake ended ({@link ClientHandshake}), and the
 * adapter that does it ({@link ClientAdapter}). The connection that follows speaks the core's
 * link contract (src/core/link.ts), as the server's do.
 *
 * @module
 */

import type { RuntimeCapabilities, WebSocketEvents } from "../core/link.ts";

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
  /** A refused answer's body, at most 64 KiB (BODY_LIMIT in client_handshake.ts), where shown. */
  body?: Uint8Array;
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
