/**
 * The client on Deno and Bun: their standard `WebSocket`, linked to the core like Deno's
 * server sockets (see standard_socket.ts). The API hides a refused handshake's status and
 * cannot pause, ping or drop a connection without a Close frame.
 *
 * @module
 */

import { ERROR } from "../core/constants.ts";
import { attach, STANDARD_CAPABILITIES } from "./standard_socket.ts";
import type {
  ClientAdapter,
  ClientConnectOptions,
  ClientHandshake,
  WebSocketEvents,
} from "./types.ts";

/** The Deno and Bun client adapter. */
export const webClientAdapter: ClientAdapter = {
  capabilities: {
    ...STANDARD_CAPABILITIES,
    runtime: "Bun" in globalThis ? "bun" : "deno",
    idleTimeout: false,
  },

  connect(options: ClientConnectOptions, events: WebSocketEvents): Promise<ClientHandshake> {
    return new Promise((resolve) => {
      // Deno and Bun take headers (and Bun TLS options) in a second argument beyond the
      // standard's; Bun offers permessage-deflate by itself, Deno never.
      const init = {
        protocols: options.protocols,
        headers: options.headers,
        tls: { rejectUnauthorized: options.verifyPeer },
      };
      let socket: WebSocket;
      try {
        socket = new WebSocket(options.url, init as unknown as string[]);
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

function failed(code: number, message: string): ClientHandshake {
  return { status: 0, headers: {}, protocol: "", error: { code, message } };
}
