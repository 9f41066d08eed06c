/**
 * Deno adapter: `Deno.serve` with `Deno.upgradeWebSocket`.
 *
 * @module
 */

import type { Adapter, HttpExchange, Listener, ListenOptions } from "./types.ts";
import { readBodyWithin, requestTarget, webResponse, webStreamWriter } from "./web.ts";
import { listen, STANDARD_CAPABILITIES } from "./standard_socket.ts";
import { recordFrom } from "../core/record.ts";
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
