/**
 * Deno adapter: `Deno.serve` with `Deno.upgradeWebSocket`, listening itself or handed requests
 * by a `Deno.serve` handler the user runs.
 *
 * @module
 */

import type { Adapter, HttpExchange, Listener, ListenOptions, MountOptions } from "./types.ts";
import { type Peer, urlPort, webExchange } from "./web.ts";
import { listen, STANDARD_CAPABILITIES } from "./standard_socket.ts";
import type { ResolvedSettings } from "../core/settings.ts";

/** The Deno adapter. */
export const denoAdapter: Adapter = {
  capabilities: {
    ...STANDARD_CAPABILITIES,
    runtime: "deno",
    idleTimeout: true,
    // Deno never fires open or close for a socket whose client left before the 101, and its
    // request.signal, which would say so, prints a deprecation warning when read (legacy abort).
    reportsAbandonedHandshake: false,
  },

  listen(options: ListenOptions): Promise<Listener> {
    return new Promise((resolve, reject) => {
      let port = options.port;
      try {
        const server = Deno.serve({
          hostname: options.host,
          port: options.port,
          reusePort: options.reusePort,
          ...options.tls,
          onListen: (address) => {
            port = address.port;
            resolve({
              host: address.hostname,
              port: address.port,
              close: async () => {
                server.unref();
                // Deno's graceful shutdown waits for every request body that was not answered
                // yet to end, which a client that keeps sending never does: shut down after
                // this turn, in which the server answers those requests (503).
                await new Promise((resolve) => setTimeout(resolve, 0));
                return server.shutdown();
              },
            });
          },
          handler: (request, info) => serve(request, peer(info, port), options),
        });
      } catch (error) {
        // Node and Bun say EADDRINUSE; the core reads only that.
        if (error instanceof Deno.errors.AddrInUse) Object.assign(error, { code: "EADDRINUSE" });
        reject(error);
      }
    });
  },

  mount(options: MountOptions) {
    return {
      fetch(request: Request, env: unknown) {
        const info = env as Partial<Deno.ServeHandlerInfo<Deno.NetAddr>> | undefined;
        if (typeof info?.remoteAddr?.hostname !== "string") {
          throw new TypeError(
            "Cannot fetch() on Deno: pass the handler's info too, as in " +
              "Deno.serve((request, info) => server.fetch(request, info) ?? app(request))",
          );
        }
        // Deno does not say which port a handler serves; the URL has the one the client used.
        return serve(
          request,
          peer(info as Deno.ServeHandlerInfo<Deno.NetAddr>, urlPort(request.url)),
          options,
        );
      },
    };
  },
};

function peer(info: Deno.ServeHandlerInfo<Deno.NetAddr>, localPort: number): Peer {
  return { remoteAddress: info.remoteAddr.hostname, remotePort: info.remoteAddr.port, localPort };
}

/** Hands `request` to the core; resolves with its answer. */
function serve(request: Request, from: Peer, options: MountOptions): Promise<Response> {
  return new Promise((respond) => {
    options.onRequest(exchange(request, from, options.settings, respond));
  });
}

function exchange(
  request: Request,
  from: Peer,
  settings: ResolvedSettings,
  respond: (response: Response) => void,
): HttpExchange {
  return webExchange(request, from, respond, (head, protocol, events) => {
    let upgraded: Deno.WebSocketUpgrade;
    try {
      // Deno pings a silent peer and drops it itself (0 turns that off, as our setting does).
      const idleTimeout = settings.websocket_idle_timeout;
      // The core chose among the offered protocols itself: Deno's own check splits the offer on
      // ", " only (2.9.6), and throws for "a,b", which RFC 6455 allows and ws sends.
      upgraded = Deno.upgradeWebSocket(request, { idleTimeout });
    } catch {
      return false;
    }
    const { socket, response } = upgraded;
    if (protocol !== undefined) response.headers.set("Sec-WebSocket-Protocol", protocol);
    for (const [name, value] of head.headers) response.headers.append(name, value);
    listen(socket, events);
    respond(response);
    return true;
  });
}
