/**
 * The client on Bun: the project's own engine (client_engine.ts) over `Bun.connect`, Bun's
 * native TCP and TLS sockets. `ws`'s client over Bun's `node:net` costs a third of the round
 * trips the runtime's own `WebSocket` makes; the codec over `Bun.connect` makes as many as it.
 *
 * @module
 */

import { streamClientAdapter } from "./client_engine.ts";
import type { ByteStream, StreamEvents, StreamTarget } from "./client_stream.ts";
import type { ClientAdapter } from "../client/contract.ts";

/** Bun's socket, as far as the client uses it. */
interface BunSocket {
  write(data: Uint8Array, byteOffset?: number, byteLength?: number): number;
  end(): void;
  shutdown(halfClose?: boolean): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay(noDelay?: boolean): boolean;
}

interface BunConnect {
  connect(options: {
    hostname: string;
    port: number;
    tls?: boolean | { rejectUnauthorized: boolean; serverName?: string };
    socket: {
      binaryType: "uint8array";
      open(socket: BunSocket): void;
      data(socket: BunSocket, chunk: Uint8Array): void;
      drain(socket: BunSocket): void;
      close(socket: BunSocket, error?: Error): void;
      error(socket: BunSocket, error: Error): void;
      connectError(socket: BunSocket, error: Error): void;
      end(socket: BunSocket): void;
      handshake?(socket: BunSocket, success: boolean, error: Error | null): void;
    };
  }): Promise<BunSocket>;
}

/** A `Bun.connect` socket as the engine's byte stream: writes the socket cannot take wait. */
class BunStream implements ByteStream {
  readonly socket: BunSocket;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #ending = false;
  #closed = false;
  readonly #events: StreamEvents;

  constructor(socket: BunSocket, events: StreamEvents) {
    this.socket = socket;
    this.#events = events;
  }

  write(bytes: Uint8Array): void {
    if (this.#closed) return;
    if (this.#queued > 0) {
      this.#queue.push(bytes);
      this.#queued += bytes.length;
      return;
    }
    const written = this.socket.write(bytes);
    if (written < bytes.length) {
      const rest = bytes.subarray(Math.max(0, written));
      this.#queue.push(rest);
      this.#queued += rest.length;
    }
  }

  /** Bun says the socket can take more. */
  flush(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      const bytes = this.#queue[0];
      const written = Math.max(0, this.socket.write(bytes));
      this.#queued -= written;
      if (written < bytes.length) {
        this.#queue[0] = bytes.subarray(written);
        return;
      }
      this.#queue.shift();
    }
    if (this.#ending) this.socket.shutdown();
    this.#events.drain();
  }

  get buffered(): number {
    return this.#queued;
  }

  pause(): void {
    if (!this.#closed) this.socket.pause();
  }

  resume(): void {
    if (!this.#closed) this.socket.resume();
  }

  end(): void {
    if (this.#closed || this.#ending) return;
    this.#ending = true;
    // Half-closes: Bun's end() closes the socket at once, and closing with unread input (an
    // endless flood) resets the connection, which loses the Close still on its way.
    if (this.#queued === 0) this.socket.shutdown();
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.socket.terminate();
  }

  /** The socket closed. */
  closed(): void {
    this.#closed = true;
  }
}

function openBunStream(target: StreamTarget, events: StreamEvents): Promise<ByteStream> {
  const bun = (globalThis as unknown as { Bun: BunConnect }).Bun;
  return new Promise((resolve, reject) => {
    let stream: BunStream | undefined;
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      reject(error);
    };
    const opened = (socket: BunSocket) => {
      if (settled) return;
      settled = true;
      socket.setNoDelay(true);
      stream = new BunStream(socket, events);
      resolve(stream);
    };
    const isName = !/^[\d.]+$|:/.test(target.host);
    bun.connect({
      hostname: target.host,
      port: target.port,
      tls: target.tls
        ? {
          rejectUnauthorized: target.verifyPeer,
          ...(isName ? { serverName: target.host } : {}),
        }
        : undefined,
      socket: {
        // Plain Uint8Arrays: a Buffer's subarray() costs several times as much, per frame.
        binaryType: "uint8array",
        open(socket) {
          if (!target.tls) opened(socket);
        },
        handshake(socket, success, error) {
          if (success || !target.verifyPeer) opened(socket);
          else {
            fail(error ?? new Error("the TLS handshake failed"));
            socket.terminate();
          }
        },
        data(_socket, chunk) {
          events.data(chunk);
        },
        drain() {
          stream?.flush();
        },
        end(socket) {
          socket.end();
        },
        close(_socket, error) {
          if (!stream) return fail(error ?? new Error("the connection closed before it opened"));
          stream.closed();
          events.closed(error);
        },
        error(_socket, error) {
          if (!stream) fail(error);
        },
        connectError(_socket, error) {
          fail(error);
        },
      },
    }).catch(fail);
  });
}

/** The Bun client adapter. */
export const bunClientAdapter: ClientAdapter = streamClientAdapter("bun", openBunStream);
