/**
 * The client in browsers: the standard `WebSocket`, linked to the core like Deno's server
 * sockets (see standard_socket.ts). The API hides a refused handshake's status, cannot pause,
 * ping or drop a connection without a Close frame, takes no headers and always checks
 * certificates. Node runs `ws`'s client instead (client_node.ts), Deno and Bun the project's own
 * engine (client_engine.ts).
 *
 * @module
 */

import { ERROR } from "../core/constants.ts";
import { attach, STANDARD_CAPABILITIES } from "./standard_socket.ts";
import type { WebSocketEvents } from "./types.ts";
import type { ClientAdapter, ClientConnectOptions, ClientHandshake } from "../client/contract.ts";

/** The browser client adapter. */
export const webClientAdapter: ClientAdapter = {
  capabilities: { ...STANDARD_CAPABILITIES, runtime: "browser", idleTimeout: false },

  connect(options: ClientConnectOptions, events: WebSocketEvents): Promise<ClientHandshake> {
    const refused = browserRefusal(options);
    if (refused) return Promise.resolve(failed(ERROR.WEBSOCKET_HANDSHAKE_FAILED, refused));
    return new Promise((resolve) => {
      let socket: WebSocket;
      try {
        socket = new WebSocket(options.url, options.protocols);
      } catch (error) {
        resolve(failed(ERROR.WEBSOCKET_HANDSHAKE_FAILED, (error as Error).message));
        return;
      }
      socket.binaryType = "arraybuffer";
      const timer = setTimeout(() => {
        socket.onopen = socket.onclose = socket.onerror = null;
        socket.close();
        resolve(failed(ERROR.TIMEOUT, `no handshake within ${options.timeoutMs} ms`));
      }, options.timeoutMs);
      socket.onopen = () => {
        clearTimeout(timer);
        attach(socket, events);
        resolve({ status: 101, headers: {}, protocol: socket.protocol });
      };
      socket.onerror = socket.onclose = (event: Event) => {
        clearTimeout(timer);
        socket.onopen = socket.onclose = socket.onerror = null;
        const message = (event as ErrorEvent).message || "the handshake failed";
        resolve(failed(ERROR.WEBSOCKET_HANDSHAKE_FAILED, message));
      };
    });
  },
};

/** Why a browser cannot make this connection as asked, if it cannot. */
function browserRefusal(options: ClientConnectOptions): string | undefined {
  if (Object.keys(options.headers).length > 0) {
    return "a browser's WebSocket cannot send headers: leave setHeaders() out there";
  }
  if (!options.verifyPeer) {
    return "a browser's WebSocket always verifies certificates: leave ssl_verify_peer on there";
  }
  return undefined;
}

function failed(code: number, message: string): ClientHandshake {
  return { status: 0, headers: {}, protocol: "", error: { code, message } };
}
