/**
 * Deno adapter: `Deno.serve` with `Deno.upgradeWebSocket`.
 *
 * @module
 */

import type {
  Adapter,
  HttpExchange,
  Listener,
  ListenOptions,
  WebSocketEvents,
  WebSocketLink,
} from "./types.ts";
import { readBodyWithin, requestTarget, webResponse, webStreamWriter } from "./web.ts";
import { recordFrom } from "../record.ts";
import type { ResolvedSettings } from "../settings.ts";

/** How often to look at `bufferedAmount` while a push waits: Deno has no drain event. */
const DRAIN_POLL_MS = 5;

/** The Deno adapter. */
export const denoAdapter: Adapter = {
  capabilities: {
    runtime: "deno",
    fragments: false,
    compression: false,
    pause: false,
    terminate: false,
    idleTimeout: true,
    controlFrames: false,
  },

  listen(options: ListenOptions): Promise<Listener> {
    return new Promise((resolve, reject) => {
      try {
        const server = Deno.serve({
          hostname: options.host,
          port: options.port,
          reusePort: options.reusePort,
          ...options.tls,
          onListen: (address) => {
            resolve({
              host: address.hostname,
              port: address.port,
              close: () => {
                server.unref();
                return server.shutdown();
              },
            });
          },
          handler: (request, info) =>
            new Promise<Response>((respond) => {
              options.onRequest(exchange(request, info, options.settings, respond));
            }),
        });
      } catch (error) {
        // Node and Bun say EADDRINUSE; the core reads only that.
        if (error instanceof Deno.errors.AddrInUse) Object.assign(error, { code: "EADDRINUSE" });
        reject(error);
      }
    });
  },
};

function exchange(
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  settings: ResolvedSettings,
  respond: (response: Response) => void,
): HttpExchange {
  const headers = recordFrom(request.headers);
  return {
    method: request.method,
    target: requestTarget(request.url, headers.host),
    headers,
    remoteAddress: info.remoteAddr.hostname,
    remotePort: info.remoteAddr.port,
    readBody: (limit, stop) => readBodyWithin(request, limit, stop),
    respond: (head, body) => respond(webResponse(head, body)),
    stream: (head) => webStreamWriter((body) => respond(webResponse(head, body))),
    upgrade(head, protocol, events) {
      let upgraded: Deno.WebSocketUpgrade;
      try {
        // Deno pings a silent peer and drops it itself (0 turns that off, as our setting does).
        const idleTimeout = settings.websocket_idle_timeout;
        upgraded = Deno.upgradeWebSocket(request, { protocol, idleTimeout });
      } catch {
        return false;
      }
      const { socket, response } = upgraded;
      for (const [name, value] of head.headers) response.headers.append(name, value);
      listen(socket, events);
      respond(response);
      return true;
    },
  };
}

const EVENTS = Symbol("coro-ws events");

interface EventedSocket extends WebSocket {
  [EVENTS]: WebSocketEvents;
}

/**
 * Shared handlers that find the connection through `this` (the socket). Closures made in
 * upgrade() would keep the whole request alive for the life of the connection.
 */
function listen(socket: WebSocket, events: WebSocketEvents): void {
  (socket as EventedSocket)[EVENTS] = events;
  socket.binaryType = "arraybuffer";
  socket.onopen = onOpen;
  socket.onmessage = onMessage;
  socket.onclose = onClose;
  socket.onerror = ignore; // Deno follows an error with close; the core uses that.
}

function onOpen(this: WebSocket): void {
  const events = (this as EventedSocket)[EVENTS];
  events.receiveOpen(new DenoLink(this, events));
}

function onMessage(this: WebSocket, event: MessageEvent): void {
  const data = event.data;
  (this as EventedSocket)[EVENTS].receiveMessage(
    typeof data === "string" ? data : new Uint8Array(data),
  );
}

function onClose(this: WebSocket, event: CloseEvent): void {
  (this as EventedSocket)[EVENTS].receiveClose(event.code, event.reason);
}

function ignore(): void {}

/** One connection's link: a class, so its methods are shared, not closures per connection. */
class DenoLink implements WebSocketLink {
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

  ping(): void {} // Deno cannot; capabilities.controlFrames says so.

  pong(): void {}

  close(code: number, reason: string): void {
    this.#socket.close(code, reason);
  }

  end(): void {
    this.terminate(); // Deno sends the Close after what send() took.
  }

  terminate(): void {
    // Deno cannot drop a connection without a Close frame: send 1000, the nearest.
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

  pause(): void {} // Deno cannot; capabilities.pause says so.

  resume(): void {}
}
