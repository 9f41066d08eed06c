/**
 * Bun adapter: `Bun.serve` with `websocket` handlers.
 *
 * @module
 */

import type { Server as BunServer, ServerWebSocket } from "bun";
import type { BunWebSocketHandler } from "../http/host.ts";
import type {
  Adapter,
  HttpExchange,
  Listener,
  ListenOptions,
  MountOptions,
  WebSocketEvents,
  WebSocketLink,
} from "./types.ts";
import { webExchange } from "./web.ts";
import type { ResolvedSettings } from "../core/settings.ts";
import { CLOSE } from "../core/constants.ts";
import { atTurnEnd } from "../core/fairness.ts";
import { PassesControlFrames } from "./control_frames.ts";

/** The core bounds what it buffers; Bun must never drop a send (it does past this limit). */
const NEVER_DROP = 2 ** 31 - 1;

/** The longest WebSocket idle timeout Bun accepts, in seconds. */
const BUN_MAX_IDLE_TIMEOUT = 960;

/** The Bun adapter. */
export const bunAdapter: Adapter = {
  capabilities: {
    runtime: "bun",
    fragments: false,
    compression: true,
    pause: true,
    terminate: true,
    idleTimeout: true,
    controlFrames: true,
    reportsAbandonedHandshake: true,
  },

  listen(options: ListenOptions): Promise<Listener> {
    const server = Bun.serve<unknown, never>({
      hostname: options.host,
      port: options.port,
      reusePort: options.reusePort,
      tls: options.tls,
      fetch: (request, server) => serve(request, server, options),
      websocket: websocketHandlers(options.settings),
    });
    return Promise.resolve({
      host: server.hostname ?? options.host,
      port: server.port ?? options.port,
      close: () => server.stop(false),
    });
  },

  mount(options: MountOptions) {
    return {
      fetch(request: Request, env: unknown) {
        const server = env as Partial<BunServer<unknown>> | undefined;
        if (typeof server?.upgrade !== "function" || typeof server.requestIP !== "function") {
          throw new TypeError(
            "Cannot fetch() on Bun: pass Bun's server too, as in Bun.serve({ fetch: " +
              "(request, server) => coro.fetch(request, server) ?? app(request), " +
              "websocket: coro.websocket })",
          );
        }
        return serve(request, server as BunServer<unknown>, options);
      },
    };
  },
};

/**
 * The `websocket` handlers of a `Bun.serve` that coro-ws upgrades in, with the limits from
 * `settings`. They act only on sockets that coro-ws upgraded (its link is their `data`), so a
 * host may call them for every socket beside another library's handlers.
 */
export function websocketHandlers(settings: ResolvedSettings): BunWebSocketHandler {
  return {
    maxPayloadLength: settings.package_max_length,
    backpressureLimit: NEVER_DROP,
    closeOnBackpressureLimit: false,
    // true: Bun's shared compressor and decompressor, without context takeover either way.
    perMessageDeflate: settings.websocket_compression,
    // Bun pings a silent peer and drops it itself; it takes whole seconds up to 960.
    idleTimeout: Math.min(BUN_MAX_IDLE_TIMEOUT, Math.ceil(settings.websocket_idle_timeout)),
    sendPings: true,
    open: (ws: ServerWebSocket<unknown>) => uncorked(ws)?.open(ws),
    message: (ws: ServerWebSocket<unknown>, message: string | Buffer) =>
      corkedBy(ws)?.events.receiveMessage(
        typeof message === "string" ? message : toBytes(message),
      ),
    ping: (ws: ServerWebSocket<unknown>, data: Buffer) =>
      corkedBy(ws)?.events.receivePing(toBytes(data)),
    pong: (ws: ServerWebSocket<unknown>, data: Buffer) =>
      corkedBy(ws)?.events.receivePong(toBytes(data)),
    close: (ws: ServerWebSocket<unknown>, code: number, reason: string) => {
      const events = uncorked(ws)?.events;
      if (!events) return;
      const violation = code === CLOSE.ABNORMAL ? violationCode(reason) : undefined;
      if (violation) events.receiveViolation(violation);
      events.receiveClose(code, reason);
    },
    drain: (ws: ServerWebSocket<unknown>) => uncorked(ws)?.drained(),
  };
}

/**
 * The link whose socket Bun holds corked now, if any. Bun corks a socket while it reads from it:
 * through the `message`, `ping` and `pong` callbacks and the microtasks they queue, which is
 * where a handler waiting in `recv()` runs. Sends to that socket can go straight to Bun, which
 * writes them in one go when the read is done (measured, 10 connections, 16 in flight: 0.06
 * `sendto` per round trip sending from a microtask, as from the callback itself; 2 from a
 * `setImmediate`). Any other callback, and the end of the turn, forget it; code that runs
 * between Bun's callbacks without one (a timer, another library's socket) may still see it, and
 * then sends uncorked, in order, as a raw `ws.send()` there would.
 */
let corked: BunLink | undefined;
let forgetScheduled = false;
function forget(): void {
  corked = undefined;
  forgetScheduled = false;
}

/** coro-ws's link of a socket Bun is reading from, now the one that is corked. */
function corkedBy(ws: ServerWebSocket<unknown>): BunLink | undefined {
  corked = linkOf(ws);
  if (corked && !forgetScheduled) {
    forgetScheduled = true;
    atTurnEnd(forget); // The core's turn end: one setImmediate a turn for both.
  }
  return corked;
}

/** coro-ws's link of a socket, for a callback in which Bun holds no socket corked for us. */
function uncorked(ws: ServerWebSocket<unknown>): BunLink | undefined {
  corked = undefined;
  return linkOf(ws);
}

/** coro-ws's link of a socket, or undefined for another library's socket in the same server. */
function linkOf(ws: ServerWebSocket<unknown>): BunLink | undefined {
  return ws.data instanceof BunLink ? ws.data : undefined;
}

function toBytes(data: Buffer): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Hands `request` to the core; resolves with its answer, undefined once upgraded. */
function serve(
  request: Request,
  server: BunServer<unknown>,
  options: MountOptions,
): Promise<Response | undefined> {
  return new Promise((respond) => options.onRequest(exchange(request, server, respond)));
}

function exchange(
  request: Request,
  server: BunServer<unknown>,
  respond: (response: Response | undefined) => void,
): HttpExchange {
  const address = server.requestIP(request);
  const from = {
    remoteAddress: address?.address ?? "",
    remotePort: address?.port ?? 0,
    localPort: server.port ?? 0,
  };
  return webExchange(request, from, respond, (head, protocol, events) => {
    // An empty value stops Bun from picking the first offered subprotocol on its own.
    const headers = [...head.headers, ["Sec-WebSocket-Protocol", protocol ?? ""]];
    const data = new BunLink(events);
    try {
      if (!server.upgrade(request, { data, headers: headers as [string, string][] })) return false;
    } catch {
      return false; // A host Bun.serve without coro-ws's websocket handlers: Bun throws.
    }
    respond(undefined);
    return true;
  });
}

/** The held sends of every link that holds none; never pushed to. */
const NONE: never[] = [];

/** Writes held sends to Bun, inside a cork. */
function writeAll(ws: ServerWebSocket<unknown>, pending: (string | Uint8Array | Compressed)[]) {
  for (const item of pending) {
    if (item instanceof Compressed) ws.send(item.data, true);
    else ws.send(item);
  }
}

/** A held send that asks for compression: rare, so plain sends stay unwrapped. */
class Compressed {
  readonly data: string | Uint8Array;
  constructor(data: string | Uint8Array) {
    this.data = data;
  }
}

/**
 * Bun sends at once unless its socket is corked, which it is only while it reads from that
 * socket (see {@link corked}). A send then goes straight to Bun; any other is held between the
 * core's `cork()` and `flush()` and written in one corked call: 16 replies pipelined on one
 * connection cost one syscall, not 16.
 */
export class BunLink extends PassesControlFrames<ServerWebSocket<unknown>>
  implements WebSocketLink {
  /** The connection's events: the link is Bun's per-socket data, made at the upgrade. */
  readonly events: WebSocketEvents;
  /** Sends held until flush(); one shared empty array while none are. */
  #pending: (string | Uint8Array | Compressed)[] = NONE;
  #pendingBytes = 0;
  /** The core waits for a drain that only our own flush can bring. */
  #drainAfterFlush = false;
  /** end() was called: close once Bun's buffer is empty. */
  #ending = false;

  constructor(events: WebSocketEvents) {
    super();
    this.events = events;
  }

  open(ws: ServerWebSocket<unknown>): void {
    this.ws = ws;
    this.events.receiveOpen(this);
  }

  /** Bun wrote some of what it buffered (or our flush did). */
  drained(): void {
    if (!this.#ending) this.events.receiveDrain();
    else if (this.ws.getBufferedAmount() === 0) this.ws.terminate();
  }

  send(data: string | Uint8Array, _fin: boolean, compress: boolean): void {
    // Behind held sends, a send waits its turn even while corked.
    if (corked === this && this.#pending === NONE) {
      if (compress) this.ws.send(data, true);
      else this.ws.send(data);
      return;
    }
    if (this.#pending === NONE) this.#pending = [];
    this.#pending.push(compress ? new Compressed(data) : data);
    // UTF-16 units for text: cheap, and what the core counts too.
    this.#pendingBytes += typeof data === "string" ? data.length : data.byteLength;
  }

  /** Bun holds what is sent to the socket it reads from; any other send is held until flush(). */
  cork(): boolean {
    return corked !== this;
  }

  flush(): void {
    if (this.#pending === NONE) return;
    const pending = this.#pending;
    this.#pending = NONE;
    this.#pendingBytes = 0;
    this.ws.cork(() => writeAll(this.ws, pending));
    if (this.#drainAfterFlush) {
      this.#drainAfterFlush = false;
      this.drained();
    }
  }

  end(): void {
    this.#drainAfterFlush = false;
    this.#ending = true;
    // Bun's terminate() throws away what Bun still buffers, not what the kernel has, and while
    // the socket is corked what was sent is in neither and not counted: look once it is written.
    if (corked === this) setImmediate(() => this.drained());
    else this.drained();
  }

  terminate(): void {
    this.#pending = NONE;
    this.ws.terminate();
  }

  get bufferedAmount(): number {
    return this.ws.getBufferedAmount() + this.#pendingBytes;
  }

  requestDrain(): void {
    // Bun calls drain on its own while its buffer empties; our held sends need our flush.
    if (this.#pending !== NONE) this.#drainAfterFlush = true;
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }
}

/**
 * The Close code Bun sent when it closed a connection because the peer broke a rule: Bun
 * reports its own such Close as 1006 with a reason that starts "Received" ("Received too big
 * message", "Received invalid UTF-8", "Received invalid opcode"...), and a dropped peer with
 * none.
 */
function violationCode(reason: string): number | undefined {
  if (!reason.startsWith("Received ")) return undefined;
  if (reason === "Received too big message") return CLOSE.MESSAGE_TOO_BIG;
  if (reason === "Received invalid UTF-8") return CLOSE.MESSAGE_ERROR;
  return CLOSE.PROTOCOL_ERROR;
}
