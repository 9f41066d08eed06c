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
import type { ResolvedSettings } from "../settings.ts";

/** How often to look at `bufferedAmount` while a push waits: Deno has no drain event. */
const DRAIN_POLL_MS = 5;

/** The Deno adapter. */
export const denoAdapter: Adapter = {
  capabilities: {
    runtime: "deno",
    fragments: false,
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
        reject(error);
      }
    });
  },
};

/** Bytes are never backed by a SharedArrayBuffer here, which is all the DOM type rules out. */
type ResponseBody = ConstructorParameters<typeof Response>[0];

function exchange(
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  settings: ResolvedSettings,
  respond: (response: Response) => void,
): HttpExchange {
  const url = request.url;
  const pathAt = url.indexOf("/", url.indexOf("//") + 2);
  return {
    method: request.method,
    target: pathAt < 0 ? "/" : url.slice(pathAt),
    headers: Object.fromEntries(request.headers),
    remoteAddress: info.remoteAddr.hostname,
    remotePort: info.remoteAddr.port,
    respond(head, body) {
      respond(
        new Response(body as ResponseBody, {
          status: head.status,
          statusText: head.reason,
          headers: head.headers,
        }),
      );
    },
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
      socket.binaryType = "arraybuffer";
      socket.onopen = () => events.receiveOpen(link(socket, events));
      socket.onmessage = (event) => {
        const data = event.data;
        events.receiveMessage(typeof data === "string" ? data : new Uint8Array(data));
      };
      socket.onclose = (event) => events.receiveClose(event.code, event.reason);
      socket.onerror = () => {}; // Deno follows an error with close; the core uses that.
      respond(response);
      return true;
    },
  };
}

function link(socket: WebSocket, events: WebSocketEvents): WebSocketLink {
  let polling = false;
  return {
    send: (data) => socket.send(data),
    ping: () => {},
    pong: () => {},
    close: (code, reason) => socket.close(code, reason),
    // Deno cannot drop a connection without a Close frame: send 1000, the nearest.
    terminate: () => socket.close(1000),
    get bufferedAmount() {
      return socket.bufferedAmount;
    },
    requestDrain() {
      if (polling) return;
      polling = true;
      setTimeout(() => {
        polling = false;
        events.receiveDrain();
      }, DRAIN_POLL_MS);
    },
    pause: () => {},
    resume: () => {},
  };
}
