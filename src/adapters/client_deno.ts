/**
 * The client on Deno: the project's own engine (client_engine.ts) over `Deno.connect` and
 * `Deno.connectTls`, Deno's native sockets, which read and write with a fraction of the cost of
 * its `node:net`. `Deno.connectTls` cannot skip certificate checks, so `ssl_verify_peer: false`
 * connects over `node:tls` instead (client_node_stream.ts).
 *
 * @module
 */

import { streamClientAdapter } from "./client_engine.ts";
import type { ByteStream, StreamEvents, StreamTarget } from "./client_stream.ts";
import { concatBytes } from "../core/frame.ts";
import { openNodeStream } from "./client_node_stream.ts";
import type { ClientAdapter } from "../client/contract.ts";

/** Deno's connection, as far as the client uses it. */
interface DenoConn {
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
  setNoDelay?(noDelay?: boolean): void;
  handshake?(): Promise<unknown>;
}

interface DenoNet {
  connect(options: { hostname: string; port: number }): Promise<DenoConn>;
  connectTls(options: { hostname: string; port: number }): Promise<DenoConn>;
}

const READ_SIZE = 64 * 1024;

/**
 * A Deno connection as the engine's byte stream: one read loop that waits while paused, and
 * one write loop that sends everything queued meanwhile in one write.
 */
class DenoStream implements ByteStream {
  readonly #conn: DenoConn;
  readonly #events: StreamEvents;
  #queue: Uint8Array[] = [];
  #queued = 0;
  /** The bytes of the write in progress, if one is. */
  #inFlight: Uint8Array | undefined;
  #ending = false;
  #closed = false;
  #paused: { promise: Promise<void>; resolve: () => void } | undefined;

  constructor(conn: DenoConn, events: StreamEvents) {
    this.#conn = conn;
    this.#events = events;
  }

  async readLoop(): Promise<void> {
    const buffer = new Uint8Array(READ_SIZE);
    let failure: Error | undefined;
    try {
      while (!this.#closed) {
        if (this.#paused) await this.#paused.promise;
        if (this.#closed) break;
        const count = await this.#conn.read(buffer);
        if (count === null) break;
        this.#events.data(buffer.subarray(0, count));
      }
    } catch (error) {
      if (!this.#closed) failure = error as Error;
    }
    this.destroy();
    this.#events.closed(failure);
  }

  write(bytes: Uint8Array): void {
    if (this.#closed || this.#ending) return;
    this.#queued += bytes.length;
    if (this.#inFlight) return void this.#queue.push(bytes);
    this.#inFlight = bytes;
    this.#conn.write(bytes).then(this.#wrote, this.#writeFailed);
  }

  /**
   * One write is done: the rest of it, or everything queued meanwhile in one write, goes next.
   * A callback made once per stream, not an async loop, which cost an async function's promise
   * and a new queue per write.
   */
  readonly #wrote = (written: number): void => {
    this.#queued -= written;
    if (this.#closed) return;
    const done = this.#inFlight!;
    let next: Uint8Array | undefined;
    if (written < done.length) next = done.subarray(written);
    else if (this.#queue.length > 0) {
      next = this.#queue.length === 1 ? this.#queue[0] : concatBytes(this.#queue);
      this.#queue.length = 0;
    }
    if (next) {
      this.#inFlight = next;
      this.#conn.write(next).then(this.#wrote, this.#writeFailed);
      return;
    }
    this.#inFlight = undefined;
    this.#queued = 0;
    if (this.#ending) return void this.#closeWrite();
    this.#events.drain();
  };

  readonly #writeFailed = (): void => {
    this.#inFlight = undefined;
    this.destroy();
  };

  get buffered(): number {
    return this.#queued;
  }

  pause(): void {
    if (this.#paused) return;
    let resolve!: () => void;
    const promise = new Promise<void>((done) => resolve = done);
    this.#paused = { promise, resolve };
  }

  resume(): void {
    const paused = this.#paused;
    this.#paused = undefined;
    paused?.resolve();
  }

  end(): void {
    if (this.#closed || this.#ending) return;
    this.#ending = true;
    if (!this.#inFlight) void this.#closeWrite();
  }

  async #closeWrite(): Promise<void> {
    try {
      await this.#conn.closeWrite();
    } catch {
      this.destroy();
    }
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.resume();
    try {
      this.#conn.close();
    } catch {
      // Closed already.
    }
  }
}

async function openDenoStream(target: StreamTarget, events: StreamEvents): Promise<ByteStream> {
  if (target.tls && !target.verifyPeer) return openNodeStream(target, events);
  const deno = (globalThis as unknown as { Deno: DenoNet }).Deno;
  const options = { hostname: target.host, port: target.port };
  const conn = target.tls ? await deno.connectTls(options) : await deno.connect(options);
  try {
    conn.setNoDelay?.(true);
    if (target.tls) await conn.handshake?.();
  } catch (error) {
    conn.close();
    throw error;
  }
  const stream = new DenoStream(conn, events);
  // Reading starts once the engine has the stream (it writes the request first).
  queueMicrotask(() => void stream.readLoop());
  return stream;
}

/** The Deno client adapter. */
export const denoClientAdapter: ClientAdapter = streamClientAdapter("deno", openDenoStream);
