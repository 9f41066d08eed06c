/**
 * The client's own RFC 6455 engine, for Deno and Bun: the opening handshake, framing, masking,
 * the closing handshake, UTF-8 checks and permessage-deflate (RFC 7692), over a byte stream a
 * runtime adapter opens ({@link ByteStream}: `Bun.connect`, `Deno.connect`, `node:tls`). Every
 * limit is checked before memory is spent: the answer's head (16 KiB), a refused answer's body
 * (64 KiB), a frame's declared length against `maxPayload` before its payload is read, and an
 * inflated message against `maxPayload` as it inflates.
 *
 * @module
 */

import { RUNTIME } from "./detect.ts";
import { createHash } from "node:crypto";
import { constants, deflateRawSync, inflateRawSync } from "node:zlib";
import { CLOSE, ERROR } from "../core/constants.ts";
import { concatBytes } from "../core/frame.ts";
import type { RuntimeCapabilities, WebSocketEvents, WebSocketLink } from "./types.ts";
import type { ClientConnectOptions, ClientHandshake } from "../client/contract.ts";

/** What the engine can do, on any runtime that gives it a byte stream. */
export const ENGINE_CAPABILITIES: Omit<RuntimeCapabilities, "runtime"> = {
  fragments: true,
  compression: true,
  pause: true,
  terminate: true,
  controlFrames: true,
  idleTimeout: false,
  reportsAbandonedHandshake: true,
};

/** Largest answer head read before the handshake fails (Node's `maxHeaderSize`). */
export const HEAD_LIMIT = 16 * 1024;
/** Largest refused answer's body kept; the rest is not read. */
export const BODY_LIMIT = 64 * 1024;
/** How long a refused answer's body may take once its head has come. */
export const BODY_WAIT_MS = 1000;
/** How long the server may take to close the TCP connection after the closing handshake. */
const CLOSE_GRACE_MS = 2000;

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const DEFLATE_TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);
const EMPTY = new Uint8Array(0);

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

/**
 * Connects with `open` and runs the client's WebSocket over the stream: the `connect()` of a
 * client adapter.
 */
export function connectOverStream(
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
class ClientEngine implements StreamEvents, WebSocketLink {
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
  #head: Uint8Array = EMPTY;
  #status = 0;
  #headers: Record<string, string> = {};
  #body: Uint8Array[] = [];
  #bodyLength = 0;
  #bodyReader: BodyReader | undefined;
  // Negotiated.
  #deflate: { clientWindowBits: number } | undefined;
  // The reader.
  #pending: Uint8Array | undefined;
  #frame: FrameHead | undefined;
  #payload: Uint8Array | undefined;
  #filled = 0;
  #parts: Uint8Array[] = [];
  #messageLength = 0;
  #messageOpcode = 0;
  #messageCompressed = false;
  #textDecoder: TextDecoder | undefined;
  // The writer.
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
    this.#key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    stream.write(encoder.encode(this.#request()));
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

  #request(): string {
    const options = this.#options;
    const url = this.#url;
    const fields: Record<string, string> = { host: url.host };
    const names: Record<string, string> = { host: "Host" };
    for (const [name, value] of Object.entries(options.headers)) {
      fields[name.toLowerCase()] = value;
      names[name.toLowerCase()] = name;
    }
    const own: [string, string][] = [
      ["Upgrade", "websocket"],
      ["Connection", "Upgrade"],
      ["Sec-WebSocket-Key", this.#key],
      ["Sec-WebSocket-Version", "13"],
    ];
    // Offers joined with ", ", as browsers send them: Deno's servers split on ", " alone.
    if (options.protocols.length > 0) {
      own.push(["Sec-WebSocket-Protocol", options.protocols.join(", ")]);
    }
    if (options.compression) {
      own.push([
        "Sec-WebSocket-Extensions",
        "permessage-deflate; client_no_context_takeover; server_no_context_takeover; " +
        "client_max_window_bits",
      ]);
    }
    for (const [name, value] of own) {
      fields[name.toLowerCase()] = value;
      names[name.toLowerCase()] = name;
    }
    let head = `GET ${url.pathname}${url.search} HTTP/1.1\r\n`;
    for (const [name, value] of Object.entries(fields)) head += `${names[name]}: ${value}\r\n`;
    return head + "\r\n";
  }

  data(chunk: Uint8Array): void {
    if (this.#phase === "open") return this.#read(chunk);
    if (this.#phase === "head") return this.#readHead(chunk);
    if (this.#phase === "body") return this.#readBody(chunk);
  }

  #readHead(chunk: Uint8Array): void {
    const start = Math.max(0, this.#head.length - 3);
    const head = this.#head.length > 0 ? join(this.#head, chunk) : chunk;
    const end = findHeadEnd(head, start);
    if (end < 0) {
      if (head.length > HEAD_LIMIT) {
        this.#fail(
          ERROR.WEBSOCKET_HANDSHAKE_FAILED,
          `the server's answer has a head over ${HEAD_LIMIT} bytes`,
          0,
        );
        this.#stream?.destroy();
        return;
      }
      this.#head = head === chunk ? copy(chunk) : head;
      return;
    }
    if (end > HEAD_LIMIT) {
      this.#fail(
        ERROR.WEBSOCKET_HANDSHAKE_FAILED,
        `the server's answer has a head over ${HEAD_LIMIT} bytes`,
        0,
      );
      this.#stream?.destroy();
      return;
    }
    this.#head = EMPTY;
    const rest = head.subarray(end + 4);
    const lines = latin1.decode(head.subarray(0, end)).split("\r\n");
    const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0]);
    if (!status) {
      this.#fail(ERROR.WEBSOCKET_HANDSHAKE_FAILED, "the server's answer is not HTTP/1.1", 0);
      this.#stream?.destroy();
      return;
    }
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      this.#headers[name] = name in this.#headers ? `${this.#headers[name]}, ${value}` : value;
    }
    this.#status = Number(status[1]);
    if (this.#status !== 101) {
      this.#phase = "body";
      this.#bodyReader = new BodyReader(this.#headers);
      // A body that never ends is not waited for past a bound.
      clearTimeout(this.#deadline);
      this.#deadline = setTimeout(() => this.#refused(), BODY_WAIT_MS);
      return this.#readBody(rest);
    }
    const invalid = this.#checkSwitch();
    if (invalid) {
      this.#fail(ERROR.WEBSOCKET_HANDSHAKE_FAILED, invalid, 101);
      this.#stream?.destroy();
      return;
    }
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
    if (rest.length > 0 && this.#phase === "open") this.#read(rest);
  }

  /** What is wrong with a 101 answer, if anything (RFC 6455 §4.1, RFC 7692 §5). */
  #checkSwitch(): string | undefined {
    const headers = this.#headers;
    if (headers.upgrade?.toLowerCase() !== "websocket") return "Invalid Upgrade header";
    if (!/(^|,)\s*upgrade\s*(,|$)/i.test(headers.connection ?? "")) {
      return "Invalid Connection header";
    }
    const expected = createHash("sha1").update(this.#key + GUID).digest("base64");
    if (headers["sec-websocket-accept"] !== expected) return "Invalid Sec-WebSocket-Accept header";
    const protocol = headers["sec-websocket-protocol"];
    const offered = this.#options.protocols;
    if (protocol !== undefined) {
      if (offered.length === 0) return "Server sent a subprotocol but none was requested";
      if (!offered.includes(protocol)) return "Server sent an invalid subprotocol";
    } else if (offered.length > 0) return "Server sent no subprotocol";
    const extensions = headers["sec-websocket-extensions"];
    if (extensions !== undefined) {
      if (!this.#options.compression) {
        return "Server sent a Sec-WebSocket-Extensions header but no extension was requested";
      }
      return this.#acceptDeflate(extensions);
    }
    return undefined;
  }

  #acceptDeflate(answer: string): string | undefined {
    const [name, ...parameters] = answer.split(";").map((part) => part.trim());
    if (name !== "permessage-deflate" || answer.includes(",")) {
      return `Server accepted an extension that was not offered: ${answer}`;
    }
    let clientWindowBits = 15;
    let serverNoContext = false;
    for (const parameter of parameters) {
      const [key, value] = parameter.split("=").map((part) => part.trim().replace(/^"|"$/g, ""));
      if (key === "server_no_context_takeover" && value === undefined) serverNoContext = true;
      else if (key === "client_no_context_takeover" && value === undefined) continue;
      else if (key === "client_max_window_bits" && /^(9|1[0-5]|8)$/.test(value ?? "")) {
        clientWindowBits = Math.max(9, Number(value));
      } else if (key === "server_max_window_bits" && /^(9|1[0-5]|8)$/.test(value ?? "")) {
        continue; // Inflating with the largest window reads any smaller one.
      } else return `Invalid permessage-deflate parameter: ${parameter}`;
    }
    // Each message is inflated alone: a server that keeps its context did not take the offer.
    if (!serverNoContext) return "Server did not accept server_no_context_takeover";
    this.#deflate = { clientWindowBits };
    return undefined;
  }

  #readBody(chunk: Uint8Array): void {
    const reader = this.#bodyReader!;
    const done = reader.read(chunk, (bytes) => {
      const room = BODY_LIMIT - this.#bodyLength;
      if (room <= 0) return;
      const kept = copy(bytes.subarray(0, room));
      this.#body.push(kept);
      this.#bodyLength += kept.length;
    });
    if (done || this.#bodyLength >= BODY_LIMIT) this.#refused();
  }

  /** Ends a refused handshake with the status, headers and (bounded) body it has. */
  #refused(): void {
    if (this.#phase !== "body") return;
    this.#fail(
      ERROR.WEBSOCKET_HANDSHAKE_FAILED,
      `the server answered ${this.#status} instead of 101`,
      this.#status,
    );
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
      body: this.#body.length === 1 ? this.#body[0] : join(...this.#body),
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

  // ---- reading frames ----

  #read(chunk: Uint8Array): void {
    let bytes = chunk;
    if (this.#pending) {
      bytes = join(this.#pending, chunk);
      this.#pending = undefined;
    }
    let offset = 0;
    const length = bytes.length;
    while (offset < length && this.#phase === "open" && !this.#failedWith) {
      if (this.#payload) {
        // Filling a payload that came in parts.
        const take = Math.min(this.#payload.length - this.#filled, length - offset);
        this.#payload.set(bytes.subarray(offset, offset + take), this.#filled);
        this.#filled += take;
        offset += take;
        if (this.#filled < this.#payload.length) return;
        const payload = this.#payload;
        this.#payload = undefined;
        this.#frameDone(payload, true);
        continue;
      }
      const head = this.#readFrameHead(bytes, offset);
      if (head === undefined) {
        this.#pending = copy(bytes.subarray(offset));
        return;
      }
      if (head === false) return; // A violation: the connection is closing.
      offset = head.payloadAt;
      if (length - offset >= head.length) {
        const end = offset + head.length;
        if (head.fin && head.opcode === 1 && !this.#messageCompressed && end - offset <= 64) {
          // A short text message in one frame, the most common frame of all: decoded from the
          // read itself.
          this.#messageOpcode = 0;
          const text = decodeShortText(bytes, offset, end);
          offset = end;
          if (text === undefined) this.#violate(CLOSE.MESSAGE_ERROR, "text that is not UTF-8");
          else this.#events.receiveMessage(text);
          continue;
        }
        const payload = bytes.subarray(offset, end);
        offset = end;
        this.#frameDone(payload, false);
      } else {
        this.#payload = new Uint8Array(head.length);
        this.#filled = 0;
      }
    }
  }

  /** Parses and checks the frame head at `offset`: undefined if incomplete, false if refused. */
  #readFrameHead(bytes: Uint8Array, offset: number): FrameHead | undefined | false {
    const available = bytes.length - offset;
    if (available < 2) return undefined;
    const first = bytes[offset];
    const second = bytes[offset + 1];
    let length = second & 0x7f;
    let payloadAt = offset + 2;
    if (length === 126) {
      if (available < 4) return undefined;
      length = (bytes[offset + 2] << 8) | bytes[offset + 3];
      payloadAt += 2;
    } else if (length === 127) {
      if (available < 10) return undefined;
      const high = ((bytes[offset + 2] << 24) >>> 0) + (bytes[offset + 3] << 16) +
        (bytes[offset + 4] << 8) + bytes[offset + 5];
      const low = ((bytes[offset + 6] << 24) >>> 0) + (bytes[offset + 7] << 16) +
        (bytes[offset + 8] << 8) + bytes[offset + 9];
      length = high * 0x100000000 + low;
      payloadAt += 8;
    }
    const fin = (first & 0x80) !== 0;
    const rsv1 = (first & 0x40) !== 0;
    const opcode = first & 0x0f;
    if ((second & 0x80) !== 0) return this.#violate(CLOSE.PROTOCOL_ERROR, "a masked frame");
    if ((first & 0x30) !== 0) return this.#violate(CLOSE.PROTOCOL_ERROR, "RSV2 or RSV3 set");
    if (opcode >= 0x8) {
      if (opcode > 0xa) return this.#violate(CLOSE.PROTOCOL_ERROR, `opcode ${opcode}`);
      if (!fin || length > 125 || rsv1) {
        return this.#violate(CLOSE.PROTOCOL_ERROR, "a fragmented or long control frame");
      }
    } else if (opcode === 0) {
      if (this.#messageOpcode === 0) {
        return this.#violate(CLOSE.PROTOCOL_ERROR, "a continuation with no message");
      }
      if (rsv1) return this.#violate(CLOSE.PROTOCOL_ERROR, "RSV1 on a continuation");
    } else {
      if (opcode > 2) return this.#violate(CLOSE.PROTOCOL_ERROR, `opcode ${opcode}`);
      if (this.#messageOpcode !== 0) {
        return this.#violate(CLOSE.PROTOCOL_ERROR, "a new message inside a fragmented one");
      }
      if (rsv1 && !this.#deflate) return this.#violate(CLOSE.PROTOCOL_ERROR, "RSV1 set");
      this.#messageOpcode = opcode;
      this.#messageCompressed = rsv1;
      this.#messageLength = 0;
    }
    if (opcode < 0x8) {
      // Checked before a byte of the payload is buffered: a head may claim 2^63 bytes.
      this.#messageLength += length;
      if (this.#messageLength > this.#options.maxPayload) {
        return this.#violate(CLOSE.MESSAGE_TOO_BIG, "a message over maxPayload");
      }
    }
    const head = this.#frame ??= { fin, opcode, length, payloadAt };
    head.fin = fin;
    head.opcode = opcode;
    head.length = length;
    head.payloadAt = payloadAt;
    return head;
  }

  /** A whole frame's payload; `owned` when the engine allocated it (else it is a view). */
  #frameDone(payload: Uint8Array, owned: boolean): void {
    const { fin, opcode } = this.#frame!;
    if (opcode >= 0x8) return this.#control(opcode, owned ? payload : copy(payload));
    const messageOpcode = this.#messageOpcode;
    if (fin && this.#parts.length === 0) {
      // A message in one frame, the common case.
      this.#messageOpcode = 0;
      return this.#message(messageOpcode, payload, owned);
    }
    if (messageOpcode === 1 && !this.#messageCompressed) {
      // Text in fragments: invalid UTF-8 fails as soon as a fragment shows it.
      this.#textDecoder ??= new TextDecoder("utf-8", { fatal: true });
      try {
        this.#textDecoder.decode(payload, { stream: true });
      } catch {
        this.#textDecoder = undefined;
        return void this.#violate(CLOSE.MESSAGE_ERROR, "text that is not UTF-8");
      }
    }
    this.#parts.push(owned ? payload : copy(payload));
    if (!fin) return;
    const whole = join(...this.#parts);
    this.#parts = [];
    this.#messageOpcode = 0;
    this.#message(messageOpcode, whole, true);
  }

  #message(opcode: number, payload: Uint8Array, owned: boolean): void {
    let bytes = payload;
    if (this.#messageCompressed) {
      this.#messageCompressed = false;
      try {
        bytes = inflateRawSync(join(payload, DEFLATE_TAIL), {
          finishFlush: constants.Z_SYNC_FLUSH,
          maxOutputLength: Math.max(1, this.#options.maxPayload),
        });
        bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        owned = true;
      } catch (error) {
        if ((error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
          return void this.#violate(CLOSE.MESSAGE_TOO_BIG, "a message inflating past maxPayload");
        }
        return void this.#violate(CLOSE.PROTOCOL_ERROR, "a message that does not inflate");
      }
      if (bytes.length > this.#options.maxPayload) {
        return void this.#violate(CLOSE.MESSAGE_TOO_BIG, "a message inflating past maxPayload");
      }
    }
    if (opcode === 1) {
      let text: string;
      try {
        if (this.#textDecoder) {
          // The fragments were checked as they came; end the check (a truncated character).
          this.#textDecoder.decode();
          this.#textDecoder = undefined;
        }
        text = strictUtf8.decode(bytes);
      } catch {
        this.#textDecoder = undefined;
        return void this.#violate(CLOSE.MESSAGE_ERROR, "text that is not UTF-8");
      }
      this.#events.receiveMessage(text);
    } else {
      this.#events.receiveMessage(owned ? bytes : copy(bytes));
    }
  }

  #control(opcode: number, payload: Uint8Array): void {
    if (opcode === 0x9) {
      if (!this.#closeSent) this.#writeFrame(0xa, payload, false);
      return this.#events.receivePing(payload);
    }
    if (opcode === 0xa) return this.#events.receivePong(payload);
    // Close.
    let code: number = CLOSE.STATUS_ERROR;
    let reason = "";
    if (payload.length === 1) return void this.#violate(CLOSE.PROTOCOL_ERROR, "a 1-byte Close");
    if (payload.length >= 2) {
      code = (payload[0] << 8) | payload[1];
      if (!isReceivableCloseCode(code)) {
        return void this.#violate(CLOSE.PROTOCOL_ERROR, `Close code ${code}`);
      }
      try {
        reason = strictUtf8.decode(payload.subarray(2));
      } catch {
        return void this.#violate(CLOSE.MESSAGE_ERROR, "a Close reason that is not UTF-8");
      }
    }
    this.#closeReceived = { code, reason };
    if (!this.#closeSent) {
      // Echo it (RFC 6455 §5.5.1), then let the server close the TCP connection first.
      this.#closeSent = true;
      this.#writeFrame(0x8, payload.subarray(0, payload.length >= 2 ? 2 : 0), false);
    }
    this.#stream?.end();
    this.#graceClose();
  }

  /** Closes with `code` because the server broke a rule, and reads no more. */
  #violate(code: number, _what: string): false {
    if (this.#failedWith) return false;
    this.#failedWith = code;
    this.#pending = this.#payload = undefined;
    this.#parts = [];
    this.#events.receiveViolation(code);
    if (!this.#closeSent) {
      this.#closeSent = true;
      this.#writeFrame(0x8, closePayload(code, ""), false);
    }
    // Read no more of what may be an endless flood; give the Close a moment to go out.
    this.#stream?.pause();
    this.#stream?.end();
    this.#graceClose();
    return false;
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
    let payload = typeof data === "string" ? encoder.encode(data) : data;
    const opcode = this.#sendingFragments ? 0 : typeof data === "string" ? 1 : 2;
    // A whole message may be compressed; a fragmented one goes as it is (RFC 7692 allows it).
    const compressed = compress && fin && !this.#sendingFragments && this.#deflate !== undefined;
    this.#sendingFragments = !fin;
    if (compressed) {
      const deflated = deflateRawSync(payload, {
        finishFlush: constants.Z_SYNC_FLUSH,
        level: 1,
        memLevel: 4,
        windowBits: this.#deflate!.clientWindowBits,
      });
      payload = deflated.subarray(0, deflated.length - 4);
      if (payload.length === 0) payload = new Uint8Array([0]);
    }
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

interface FrameHead {
  fin: boolean;
  opcode: number;
  length: number;
  payloadAt: number;
}

/** Reads a refused answer's body: by Content-Length, chunked, or until the stream ends. */
class BodyReader {
  #remaining: number;
  #chunked: boolean;
  #chunkLeft = 0;
  #line = "";
  #state: "size" | "data" | "crlf" | "done" = "size";

  constructor(headers: Record<string, string>) {
    this.#chunked = /chunked/i.test(headers["transfer-encoding"] ?? "");
    const length = Number(headers["content-length"]);
    this.#remaining = this.#chunked ? Infinity : Number.isFinite(length) ? length : Infinity;
  }

  /** Passes the body's bytes to `take`; true once the body is complete. */
  read(chunk: Uint8Array, take: (bytes: Uint8Array) => void): boolean {
    if (!this.#chunked) {
      const bytes = chunk.subarray(0, Math.min(chunk.length, this.#remaining));
      this.#remaining -= bytes.length;
      if (bytes.length > 0) take(bytes);
      return this.#remaining <= 0;
    }
    let offset = 0;
    while (offset < chunk.length && this.#state !== "done") {
      if (this.#state === "data") {
        const bytes = chunk.subarray(offset, offset + this.#chunkLeft);
        take(bytes);
        this.#chunkLeft -= bytes.length;
        offset += bytes.length;
        if (this.#chunkLeft === 0) this.#state = "crlf";
        continue;
      }
      const byte = chunk[offset++];
      if (byte !== 0x0a) {
        if (this.#line.length < 1024) this.#line += String.fromCharCode(byte);
        continue;
      }
      const line = this.#line.trim();
      this.#line = "";
      if (this.#state === "crlf") {
        this.#state = "size";
        continue;
      }
      const size = parseInt(line, 16);
      if (!Number.isFinite(size) || size === 0) this.#state = "done";
      else {
        this.#chunkLeft = size;
        this.#state = "data";
      }
    }
    return this.#state === "done";
  }
}

/** The offset of the blank line that ends a head, from `start`, or -1. */
function findHeadEnd(bytes: Uint8Array, start: number): number {
  for (let i = start; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

/** Close codes a peer may send (RFC 6455 §7.4). */
function isReceivableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
}

function closePayload(code: number, reason: string): Uint8Array {
  const reasonBytes = encoder.encode(reason);
  const payload = new Uint8Array(2 + reasonBytes.length);
  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  payload.set(reasonBytes, 2);
  return payload;
}

/** Masking keys, drawn from the random source 2,048 at a time. */
const keys = new Uint8Array(8192);
let keyAt = keys.length;

/** A client frame: masked with a fresh key (RFC 6455 §5.3). */
function maskedFrame(opcode: number, payload: Uint8Array, fin: boolean, rsv1: boolean): Uint8Array {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 0x10000 ? 2 : 8;
  const at = 2 + lengthBytes + 4;
  const bytes = new Uint8Array(at + length);
  bytes[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  if (lengthBytes === 0) bytes[1] = 0x80 | length;
  else if (lengthBytes === 2) {
    bytes[1] = 0x80 | 126;
    bytes[2] = length >> 8;
    bytes[3] = length & 0xff;
  } else {
    bytes[1] = 0x80 | 127;
    const high = Math.floor(length / 0x100000000);
    bytes[4] = (high >>> 8) & 0xff;
    bytes[5] = high & 0xff;
    bytes[6] = (length >>> 24) & 0xff;
    bytes[7] = (length >>> 16) & 0xff;
    bytes[8] = (length >>> 8) & 0xff;
    bytes[9] = length & 0xff;
  }
  if (keyAt + 4 > keys.length) {
    crypto.getRandomValues(keys);
    keyAt = 0;
  }
  const k0 = keys[keyAt], k1 = keys[keyAt + 1], k2 = keys[keyAt + 2], k3 = keys[keyAt + 3];
  keyAt += 4;
  bytes[at - 4] = k0;
  bytes[at - 3] = k1;
  bytes[at - 2] = k2;
  bytes[at - 1] = k3;
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    bytes[at + i] = payload[i] ^ k0;
    bytes[at + i + 1] = payload[i + 1] ^ k1;
    bytes[at + i + 2] = payload[i + 2] ^ k2;
    bytes[at + i + 3] = payload[i + 3] ^ k3;
  }
  for (; i < length; i++) bytes[at + i] = payload[i] ^ keys[keyAt - 4 + (i & 3)];
  return bytes;
}

/**
 * Whether short ASCII text is made with `String.fromCharCode`: on Deno it takes 120-270 ns for
 * 12-34 bytes where the decoder's call into Rust takes 400-650 ns; on Bun the decoder is the
 * faster (110-140 ns against 180-280). Concatenating characters makes ropes that the core's
 * UTF-8 count then flattens, at twice the cost.
 */
const ASCII_BY_CHAR_CODES = RUNTIME === "deno";

/** Decodes `bytes[start, end)` (at most 64 bytes) as strict UTF-8, or undefined if it is not. */
function decodeShortText(bytes: Uint8Array, start: number, end: number): string | undefined {
  const view = bytes.subarray(start, end);
  if (ASCII_BY_CHAR_CODES) {
    let ascii = true;
    for (let i = 0; i < view.length; i++) {
      if (view[i] >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, view as unknown as number[]);
  }
  try {
    return strictUtf8.decode(view);
  } catch {
    return undefined;
  }
}

/**
 * A copy as a plain `Uint8Array`: what the engine keeps of a read (the adapter may reuse its
 * buffer), and binary messages are never Node `Buffer`s (whose `slice()` is a view, not a copy).
 */
function copy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function join(...parts: Uint8Array[]): Uint8Array {
  return parts.length === 1 ? parts[0] : concatBytes(parts);
}
