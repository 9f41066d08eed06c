/**
 * The client engine's contract with a runtime's sockets (client_engine.ts): the byte stream an
 * adapter opens (`Bun.connect`, `Deno.connect`, `node:net` and `node:tls`), and the events the
 * engine takes from it.
 *
 * @module
 */

/** The engine's side of a connected byte stream; the adapter calls these. */
export interface StreamEvents {
  /** Bytes read; the engine copies what it keeps, so the adapter may reuse the buffer. */
  data(chunk: Uint8Array): void;
  /** Everything written so far has reached the socket. */
  drain(): void;
  /** The stream is closed (by either side, or failed). */
  closed(error?: Error): void;
}

/** A connected byte stream, as a runtime adapter gives it to the engine. */
export interface ByteStream {
  /** Writes all of `bytes`, in order, buffering what the socket cannot take yet. */
  write(bytes: Uint8Array): void;
  /** Bytes written that have not reached the socket yet. */
  readonly buffered: number;
  pause(): void;
  resume(): void;
  /** Closes the stream once everything written is out. */
  end(): void;
  /** Closes the stream at once. */
  destroy(): void;
}

/** Where to connect, from the options' URL. */
export interface StreamTarget {
  host: string;
  port: number;
  tls: boolean;
  verifyPeer: boolean;
}

/**
 * Opens a byte stream to `target`; resolves once it is connected (for TLS, once the stream can
 * be written), rejects with the runtime's error when it cannot.
 */
export type OpenStream = (target: StreamTarget, events: StreamEvents) => Promise<ByteStream>;
