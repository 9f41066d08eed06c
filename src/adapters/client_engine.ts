/**
 * The client's own RFC 6455 engine, for Deno and Bun, over a byte stream a runtime adapter opens
 * (client_stream.ts: `Bun.connect`, `Deno.connect`, `node:tls`): it drives the opening handshake
 * (client_handshake.ts), reads and writes frames (client_frames.ts), and is the
 * {@link WebSocketLink} the core drives, with the closing handshake and its bound. Every limit is
 * checked before memory is spent: the answer's head (16 KiB), a refused answer's body (64 KiB), a
 * frame's declared length against `maxPayload` before its payload is read, and an inflated
 * message against `maxPayload` as it inflates.
 *
 * @module
 */

import { CLOSE, ERROR } from "../core/constants.ts";
import type { RuntimeCapabilities, WebSocketEvents, WebSocketLink } from "./types.ts";
import type { ClientAdapter, ClientConnectOptions, ClientHandshake } from "../client/contract.ts";
import {
  BODY_WAIT_MS,
  checkSwitch,
  type Deflate,
  handshakeKey,
  HeadReader,
  RefusedBody,
  upgradeRequest,
} from "./client_handshake.ts";
import {
  closePayload,
  deflate,
  FrameReader,
  type FrameSink,
  maskedAsciiFrame,
  maskedFrame,
} from "./client_frames.ts";
import type { ByteStream, OpenStream, StreamEvents, StreamTarget } from "./client_stream.ts";

/** What the engine can do, on any runtime that gives it a byte stream. */
const ENGINE_CAPABILITIES: Omit<RuntimeCapabilities, "runtime"> = {
  fragments: true,
  compression: true,
  pause: true,
  terminate: true,
  controlFrames: true,
  idleTimeout: false,
  reportsAbandonedHandshake: true,
};

/** How long the server may take to close the TCP connection after the closing handshake. */
const CLOSE_GRACE_MS = 2000;

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** The client adapter of `runtime`: the engine over the streams `open` opens. */
export function streamClientAdapter(
  runtime: RuntimeCapabilities["runtime"],
  open: OpenStream,
): ClientAdapter {
  return {
    capabilities: { ...ENGINE_CAPABILITIES, runtime },
    connect: (options, events) => connectOverStream(open, options, events),
  };
}

/**
 * Connects with `open` and runs the client's WebSocket over the stream: the `connect()` of a
 * client adapter.
 */
function connectOverStream(
  open: OpenStream,
  options: ClientConnectOptions,
  events: WebSocketEvents,
): Promise<ClientHandshake> {
  return new Promise((resolve) => {
    const url = new URL(options.url);
    const tls = url.protocol === "wss:";
    const target: StreamTarget = {
      host: url.hostname.replace(/^\[|\]$/g, ""),
      port: url.port === "" ? (tls ? 443 : 80) : Number(url.port),
      tls,
      verifyPeer: options.verifyPeer,
    };
    const engine = new ClientEngine(options, url, events, resolve);
    open(target, engine).then(
      (stream) => engine.connected(stream),
      (error: Error & { code?: string; name?: string }) => engine.connectFailed(error),
    );
  });
}

type Phase = "connecting" | "head" | "body" | "open" | "done";

/** One client connection: the handshake, then the {@link WebSocketLink} the core drives. */
class ClientEngine implements StreamEvents, WebSocketLink, FrameSink {
  readonly #options: ClientConnectOptions;
  readonly #url: URL;
  readonly #events: WebSocketEvents;
  #resolve: ((handshake: ClientHandshake) => void) | undefined;
  #stream: ByteStream | undefined;
  #phase: Phase = "connecting";
  #key = "";
  #deadline: ReturnType<typeof setTimeout> | undefined;
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  // The handshake's answer.
  #head = new HeadReader();
  #status = 0;
  #headers: Record<string, string> = {};
  #body: RefusedBody | undefined;
  // Once open.
  #deflate: Deflate | undefined;
  #reader: FrameReader | undefined;
  #sendingFragments = false;
  #closeSent = false;
  #closeReceived: { code: number; reason: string } | undefined;
  #failedWith = 0;
  #drainRequested = false;
  #reported = false;

  constructor(
    options: ClientConnectOptions,
    url: URL,
    events: WebSocketEvents,
    resolve: (handshake: ClientHandshake) => void,
  ) {
    this.#options = options;
    this.#url = url;
    this.#events = events;
    this.#resolve = resolve;
    // A deadline for the whole handshake: a server that trickles its answer never goes idle.
    this.#deadline = setTimeout(() => {
      this.#fail(ERROR.TIMEOUT, `no handshake within ${options.timeoutMs} ms`, 0);
      this.#stream?.destroy();
    }, options.timeoutMs);
  }

  // ---- the handshake ----

  connected(stream: ByteStream): void {
    this.#stream = stream;
    if (this.#phase !== "connecting") return void stream.destroy(); // Timed out meanwhile.
    this.#phase = "head";
    this.#key = handshakeKey();
    stream.write(upgradeRequest(this.#options, this.#url, this.#key));
  }

  connectFailed(error: Error & { code?: string; name?: string }): void {
    if (this.#phase !== "connecting") return;
    const refused = error.code === "ECONNREFUSED" || error.name === "ConnectionRefused";
    const timedOut = error.code === "ETIMEDOUT" || error.name === "TimedOut";
    const code = refused
      ? ERROR.CONNECTION_REFUSED
      : timedOut
      ? ERROR.TIMEOUT
      : ERROR.WEBSOCKET_HANDSHAKE_FAILED;
    const where = `${this.#url.hostname}:${
      this.#url.port || (this.#url.protocol === "wss:" ? 443 : 80)
    }`;
    this.#fail(code, refused ? `connect ECONNREFUSED ${where}` : error.message, 0);
  }

  data(chunk: Uint8Array): void {
    if (this.#phase === "open") return this.#reader!.read(chunk);
    if (this.#phase === "head") return this.#readHead(chunk);
    if (this.#phase === "body") return this.#readBody(chunk);
  }

  #readHead(chunk: Uint8Array): void {
    const answer = this.#head.read(chunk);
    if (answer === undefined) return;
    if ("error" in answer) return this.#abort(answer.error, 0);
    this.#headers = answer.headers;
    this.#status = answer.status;
    if (this.#status !== 101) {
      this.#phase = "body";
      this.#body = new RefusedBody(this.#headers);
      // A body that never ends is not waited for past a bound.
      clearTimeout(this.#deadline);
      this.#deadline = setTimeout(() => this.#refused(), BODY_WAIT_MS);
      return this.#readBody(answer.rest);
    }
    const agreed = checkSwitch(this.#headers, this.#key, this.#options);
    if ("error" in agreed) return this.#abort(agreed.error, 101);
    this.#deflate = agreed.deflate;
    this.#reader = new FrameReader(this, this.#options.maxPayload, agreed.deflate !== undefined);
    clearTimeout(this.#deadline);
    this.#phase = "open";
    const resolve = this.#resolve!;
    this.#resolve = undefined;
    this.#events.receiveOpen(this);
    resolve({
      status: 101,
      headers: this.#headers,
      protocol: this.#headers["sec-websocket-protocol"] ?? "",
    });
    if (answer.rest.length > 0 && this.#phase === "open") this.#reader.read(answer.rest);
  }

  #readBody(chunk: Uint8Array): void {
    if (this.#body!.read(chunk)) this.#refused();
  }

  /** Ends a refused handshake with the status, headers and (bounded) body it has. */
  #refused(): void {
    if (this.#phase !== "body") return;
    this.#abort(`the server answered ${this.#status} instead of 101`, this.#status);
  }

  /** Ends the handshake unopened because of the server's answer, and drops the connection. */
  #abort(message: string, status: number): void {
    this.#fail(ERROR.WEBSOCKET_HANDSHAKE_FAILED, message, status);
    this.#stream?.destroy();
  }

  /** Ends the handshake unopened. */
  #fail(code: number, message: string, status: number): void {
    clearTimeout(this.#deadline);
    if (this.#phase === "open" || this.#phase === "done") return;
    this.#phase = "done";
    const resolve = this.#resolve;
    this.#resolve = undefined;
    resolve?.({
      status,
      headers: this.#headers,
      protocol: "",
      body: this.#body?.bytes ?? EMPTY,
      error: { code, message },
    });
  }

  closed(error?: Error): void {
    clearTimeout(this.#graceTimer);
    if (this.#phase === "body") return this.#refused();
    if (this.#phase !== "open") {
      const message = error?.message ?? "the server closed the connection during the handshake";
      this.#fail(ERROR.WEBSOCKET_HANDSHAKE_FAILED, message, 0);
      return;
    }
    this.#phase = "done";
    this.#reader?.stop();
    this.#report();
  }

  #report(): void {
    if (this.#reported) return;
    this.#reported = true;
    const received = this.#closeReceived;
    if (this.#failedWith) this.#events.receiveClose(this.#failedWith, "");
    else if (received) this.#events.receiveClose(received.code, received.reason);
    else this.#events.receiveClose(CLOSE.ABNORMAL, "");
  }

  // ---- what the reader found ----

  onMessage(data: string | Uint8Array): void {
    this.#events.receiveMessage(data);
  }

  onPing(payload: Uint8Array): void {
    if (!this.#closeSent) this.#writeFrame(0xa, payload, false);
    this.#events.receivePing(payload);
  }

  onPong(payload: Uint8Array): void {
    this.#events.receivePong(payload);
  }

  onClose(code: number, reason: string, payload: Uint8Array): void {
    this.#closeReceived = { code, reason };
    if (!this.#closeSent) {
      // Echo it (RFC 6455 §5.5.1), then let the server close the TCP connection first.
      this.#closeSent = true;
      this.#writeFrame(0x8, payload.subarray(0, payload.length >= 2 ? 2 : 0), false);
    }
    this.#stream?.end();
    this.#graceClose();
  }

  /** Closes with `code` because the server broke a rule; the reader reads no more. */
  onViolation(code: number, _what: string): void {
    if (this.#failedWith) return;
    this.#failedWith = code;
    this.#events.receiveViolation(code);
    if (!this.#closeSent) {
      this.#closeSent = true;
      this.#writeFrame(0x8, closePayload(code, ""), false);
    }
    // Read no more of what may be an endless flood; give the Close a moment to go out.
    this.#stream?.pause();
    this.#stream?.end();
    this.#graceClose();
  }

  #graceClose(): void {
    clearTimeout(this.#graceTimer);
    this.#graceTimer = setTimeout(() => this.#stream?.destroy(), CLOSE_GRACE_MS);
  }

  // ---- writing ----

  /**
   * Writes a frame at once. The engine has no cork() for the core to batch a turn's sends with:
   * Bun holds its socket corked through the read callback and the microtasks it queues, and
   * the Deno stream joins what comes while a write is in flight, so the core's batch only added
   * its turn's setImmediate: without it the client made 110,000-146,000 round trips per CPU
   * second on Bun where it made 91,000-133,000, and 81,000-93,000 on Deno where 69,000-75,000.
   */
  #writeFrame(opcode: number, payload: Uint8Array, rsv1: boolean, fin = true): void {
    this.#stream?.write(maskedFrame(opcode, payload, fin, rsv1));
  }

  send(data: string | Uint8Array, fin: boolean, compress: boolean): void {
    if (this.#closeSent || this.#phase !== "open") return;
    const opcode = this.#sendingFragments ? 0 : typeof data === "string" ? 1 : 2;
    // A whole message may be compressed; a fragmented one goes as it is (RFC 7692 allows it).
    const compressed = compress && fin && !this.#sendingFragments && this.#deflate !== undefined;
    this.#sendingFragments = !fin;
    if (typeof data === "string" && !compressed) {
      const frame = maskedAsciiFrame(opcode, data, fin);
      if (frame) return void this.#stream?.write(frame);
    }
    let payload = typeof data === "string" ? encoder.encode(data) : data;
    if (compressed) payload = deflate(payload, this.#deflate!.clientWindowBits);
    this.#writeFrame(opcode, payload, compressed, fin);
  }

  ping(data: Uint8Array): void {
    if (!this.#closeSent && this.#phase === "open") this.#writeFrame(0x9, data, false);
  }

  pong(data: Uint8Array): void {
    if (!this.#closeSent && this.#phase === "open") this.#writeFrame(0xa, data, false);
  }

  close(code: number, reason: string): void {
    if (this.#closeSent || this.#phase !== "open") return;
    this.#closeSent = true;
    this.#writeFrame(0x8, closePayload(code, reason), false);
    // The server answers with its Close, then closes the TCP connection; the core bounds it.
  }

  end(): void {
    this.#closeSent = true;
    this.#stream?.end();
  }

  terminate(): void {
    this.#stream?.destroy();
  }

  get bufferedAmount(): number {
    return this.#stream?.buffered ?? 0;
  }

  requestDrain(): void {
    if (this.#drainRequested) return;
    this.#drainRequested = true;
    if ((this.#stream?.buffered ?? 0) === 0) queueMicrotask(() => this.drain());
  }

  drain(): void {
    if (!this.#drainRequested) return;
    this.#drainRequested = false;
    this.#events.receiveDrain();
  }

  pause(): void {
    this.#stream?.pause();
  }

  resume(): void {
    if (!this.#failedWith) this.#stream?.resume();
  }
}
