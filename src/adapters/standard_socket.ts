/**
 * A WebSocket of the web-standard API (`WebSocket` with `onopen`, `onmessage`, `onclose`), as
 * `Deno.upgradeWebSocket` gives the server and as Deno's and Bun's `WebSocket` clients are: the
 * link to the core, and what such a socket cannot do.
 *
 * @module
 */

import { CLOSE } from "../core/constants.ts";
import type { RuntimeCapabilities, WebSocketEvents, WebSocketLink } from "./types.ts";

/** How often to look at `bufferedAmount` while a push waits: the API has no drain event. */
const DRAIN_POLL_MS = 5;

/**
 * What the standard API cannot do: no fragments, compression, pause, drop without a Close,
 * pings or pongs; an adapter adds its runtime's name and idle handling.
 */
export const STANDARD_CAPABILITIES: Omit<RuntimeCapabilities, "runtime" | "idleTimeout"> = {
  fragments: false,
  compression: false,
  pause: false,
  terminate: false,
  controlFrames: false,
  reportsAbandonedHandshake: true,
};

const EVENTS = Symbol("coro-ws events");

interface EventedSocket extends WebSocket {
  [EVENTS]: WebSocketEvents;
}

/**
 * Shared handlers that find the connection through `this` (the socket). Closures made in
 * upgrade() would keep the whole request alive for the life of the connection.
 */
export function listen(socket: WebSocket, events: WebSocketEvents): void {
  (socket as EventedSocket)[EVENTS] = events;
  socket.binaryType = "arraybuffer";
  socket.onopen = onOpen;
  socket.onmessage = onMessage;
  socket.onclose = onClose;
  socket.onerror = ignore; // An error is followed by close; the core uses that.
}

/** {@link listen} for a socket already open (a client's): the core gets it now. */
export function attach(socket: WebSocket, events: WebSocketEvents): void {
  listen(socket, events);
  socket.onopen = null;
  events.receiveOpen(new StandardLink(socket, events));
}

function onOpen(this: WebSocket): void {
  const events = (this as EventedSocket)[EVENTS];
  events.receiveOpen(new StandardLink(this, events));
}

function onMessage(this: WebSocket, event: MessageEvent): void {
  const data = event.data;
  (this as EventedSocket)[EVENTS].receiveMessage(
    typeof data === "string" ? data : new Uint8Array(data),
  );
}

function onClose(this: WebSocket, event: CloseEvent): void {
  // Deno reports a connection dropped without a Close as code 0, where the standard says 1006.
  const code = event.code >= 1000 ? event.code : CLOSE.ABNORMAL;
  (this as EventedSocket)[EVENTS].receiveClose(code, event.reason);
}

function ignore(): void {}

/** One connection's link: a class, so its methods are shared, not closures per connection. */
class StandardLink implements WebSocketLink {
  readonly #socket: WebSocket;
  readonly #events: WebSocketEvents;
  #polling = false;

  constructor(socket: WebSocket, events: WebSocketEvents) {
    this.#socket = socket;
    this.#events = events;
  }

  send(data: string | Uint8Array): void {
    this.#socket.send(data);
  }

  // No cork() or flush(): the API writes each send as it comes, and has no way to hold them.

  ping(): void {} // The API cannot; capabilities.controlFrames says so.

  pong(): void {}

  close(code: number, reason: string): void {
    try {
      this.#socket.close(code, reason);
    } catch {
      // A client's WebSocket may send only 1000 and 3000-4999 (Deno's refuses the core's 1009,
      // 1002 and 1011): send 1000, the nearest it allows, rather than leave the socket open.
      this.#socket.close(1000, reason);
    }
  }

  end(): void {
    this.terminate(); // The Close goes after what send() took.
  }

  terminate(): void {
    // The API cannot drop a connection without a Close frame: send 1000, the nearest.
    this.#socket.close(1000);
  }

  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }

  requestDrain(): void {
    if (this.#polling) return;
    this.#polling = true;
    setTimeout(() => {
      this.#polling = false;
      this.#events.receiveDrain();
    }, DRAIN_POLL_MS);
  }

  pause(): void {} // The API cannot; capabilities.pause says so.

  resume(): void {}
}
