/**
 * A `ws` WebSocket as the core's link, for the server's connections (Node, and Deno's `ws`
 * engine) and the Node client's: `ws`'s events in, the link's calls out.
 *
 * @module
 */

import type { Socket } from "node:net";
import { InflateRaw } from "node:zlib";
import type { RawData, WebSocket } from "ws";
import { CLOSE } from "../core/constants.ts";
import type { WebSocketEvents, WebSocketLink } from "./types.ts";
import { PassesControlFrames } from "./control_frames.ts";

/** ws's permessage-deflate for one connection, as far as {@link guardInflate} reaches into it. */
interface DeflateExtension {
  _inflate: InflateRaw | null;
  [INFLATE]?: InflateRaw | null;
}

const INFLATE = Symbol("coro-ws inflate");

/**
 * Makes a message that is not deflate data close its connection with 1007 on Deno too, instead
 * of ending the process. Deno's `node:zlib` (2.9.6) calls a stream's pending write callbacks
 * with an inflate error before it emits 'error'; Node's emits only 'error' and never calls them.
 * ws's inflater waits in a `flush()` callback that ignores its argument, so on Deno it goes on
 * to `reset()` the stream zlib has just closed, and the assertion "zlib binding closed" is thrown
 * out of a stream callback, where nothing can catch it (plain ws on Deno crashes the same way;
 * Deno's node:zlib differences: https://github.com/denoland/deno/issues/29638). Here ws's
 * inflater, made on a connection's first compressed message, gets a `flush()` that drops a
 * callback that comes with an error: the 'error' event follows, on which ws closes with 1007
 * and frees its zlib slot, as on Node. On Node the guard never fires.
 */
function guardInflate(ws: WebSocket): void {
  const extensions = (ws as unknown as { _extensions: Record<string, DeflateExtension> })
    ._extensions;
  const extension = extensions["permessage-deflate"];
  if (extension === undefined) return;
  extension[INFLATE] = extension._inflate;
  Object.defineProperty(extension, "_inflate", GUARDED_INFLATE);
}

/** Shared accessors, so that a connection costs no closures of its own. */
const GUARDED_INFLATE: PropertyDescriptor = {
  get(this: DeflateExtension) {
    return this[INFLATE];
  },
  set(this: DeflateExtension, inflate: InflateRaw | null) {
    if (inflate) inflate.flush = flushUnlessFailed;
    this[INFLATE] = inflate;
  },
  configurable: true,
};

function flushUnlessFailed(
  this: InflateRaw,
  kind?: number | (() => void),
  callback?: () => void,
): void {
  if (typeof kind === "function") [kind, callback] = [undefined, kind];
  const done = (error?: Error | null) => {
    if (!error) callback?.();
  };
  if (kind === undefined) InflateRaw.prototype.flush.call(this, done);
  else ZLIB_FLUSH_KIND.call(this, kind, done);
}

const ZLIB_FLUSH_KIND: (this: InflateRaw, kind: number, callback: () => void) => void =
  InflateRaw.prototype.flush;

/** ws compresses whatever it may unless told not to. */
const PLAIN = { compress: false };
const COMPRESSED = { compress: true };

function toBytes(data: RawData): Uint8Array {
  // With the default binaryType, ws delivers one Buffer per message; view it, don't copy.
  const buffer = data as Buffer;
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/**
 * One connection's link, for the server and the client alike: a class, so its methods are
 * shared, not closures per connection.
 */
export class NodeLink extends PassesControlFrames<WebSocket> implements WebSocketLink {
  readonly #socket: Socket;
  readonly #events: WebSocketEvents;
  #drainRequested = false;

  constructor(ws: WebSocket, socket: Socket, events: WebSocketEvents) {
    super();
    this.ws = ws;
    this.#socket = socket;
    this.#events = events;
    // Shared listeners that find the connection through `this` (the WebSocket): closures
    // would cost every connection its own functions.
    (ws as EventedWebSocket)[EVENTS] = events;
    guardInflate(ws);
    ws.on("message", onMessage);
    ws.on("ping", onPing);
    ws.on("pong", onPong);
    ws.on("close", onClose);
    // ws sends the Close with the right code itself, then emits close; say which code it was.
    ws.on("error", onError);
  }

  send(data: string | Uint8Array, fin: boolean, compress: boolean): void {
    if (fin) this.ws.send(data, compress ? COMPRESSED : PLAIN);
    else this.ws.send(data, { fin, binary: typeof data !== "string", compress });
  }

  cork(): boolean {
    this.#socket.cork();
    return true;
  }

  flush(): void {
    // ws corks and uncorks around some writes itself, always in pairs: what is left is ours.
    const socket = this.#socket;
    while (socket.writableCorked > 0) socket.uncork();
  }

  end(): void {
    // ws has no close without a Close frame but terminate(), which discards what the socket
    // still holds: end the socket itself once that is written.
    this.#socket.destroySoon();
  }

  terminate(): void {
    this.ws.terminate();
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  requestDrain(): void {
    if (this.#drainRequested) return;
    this.#drainRequested = true;
    const drained = () => {
      this.#drainRequested = false;
      this.#events.receiveDrain();
    };
    if (this.#socket.writableNeedDrain) this.#socket.once("drain", drained);
    else setImmediate(drained);
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }
}

const EVENTS = Symbol("coro-ws events");

interface EventedWebSocket extends WebSocket {
  [EVENTS]: WebSocketEvents;
}

function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  (this as EventedWebSocket)[EVENTS].receiveMessage(isBinary ? toBytes(data) : data.toString());
}

function onPing(this: WebSocket, data: Buffer): void {
  (this as EventedWebSocket)[EVENTS].receivePing(toBytes(data));
}

function onPong(this: WebSocket, data: Buffer): void {
  (this as EventedWebSocket)[EVENTS].receivePong(toBytes(data));
}

/** ws's error codes for what it closes with 1009 and 1007; any other violation is 1002. */
const VIOLATION_CODES: Record<string, number> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: CLOSE.MESSAGE_TOO_BIG,
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: CLOSE.MESSAGE_TOO_BIG,
  WS_ERR_TOO_MANY_BUFFERED_PARTS: CLOSE.MESSAGE_TOO_BIG,
  WS_ERR_INVALID_UTF8: CLOSE.MESSAGE_ERROR,
};

function onError(this: WebSocket, error: Error & { code?: string }): void {
  const code = VIOLATION_CODES[error.code ?? ""] ?? CLOSE.PROTOCOL_ERROR;
  (this as EventedWebSocket)[EVENTS].receiveViolation(code);
}

function onClose(this: WebSocket, code: number, reason: Buffer): void {
  (this as EventedWebSocket)[EVENTS].receiveClose(code, reason.toString());
}
