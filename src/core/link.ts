/**
 * The core's contract with a runtime's WebSocket: what the runtime can do
 * ({@link RuntimeCapabilities}), the core's handle on a socket ({@link WebSocketLink}) and the
 * events an adapter feeds in ({@link WebSocketEvents}). Nothing here knows a runtime.
 *
 * @module
 */

/** What the runtime's WebSocket server can do; docs/reference/runtimes.md mirrors it. */
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
  /**
   * Holds what `send()` takes from now on until `flush()`, to write it in one go: the core
   * corks at a turn's first send and flushes at the turn's end, before a control frame or the
   * end of the stream, and every 64 KiB. Returns false, holding nothing, while the runtime
   * holds this socket's writes itself (Bun, while it reads from the socket): the core then
   * sends straight to it, with no batch to keep and flush. Absent, with `flush()`, where the
   * runtime cannot hold writes: the core keeps no batch for the link.
   */
  cork?(): boolean;
  /** Writes what was held since `cork()`. */
  flush?(): void;
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
 * The events an adapter feeds into a connection. A close without a Close frame is reported
 * with code 1006, whatever the runtime says for it.
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
