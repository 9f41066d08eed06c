/**
 * Bun adapter: `Bun.serve` with `websocket` handlers.
 *
 * @module
 */

import type { Server as BunServer, ServerWebSocket } from "bun";
import type {
  Adapter,
  HttpExchange,
  Listener,
  ListenOptions,
  WebSocketEvents,
  WebSocketLink,
} from "./types.ts";

interface SocketData {
  events: WebSocketEvents;
}

/** The core bounds what it buffers; Bun must never drop a send (it does past this limit). */
const NEVER_DROP = 2 ** 31 - 1;

/** The longest WebSocket idle timeout Bun accepts, in seconds. */
const BUN_MAX_IDLE_TIMEOUT = 960;

/** The Bun adapter. */
export const bunAdapter: Adapter = {
  capabilities: {
    runtime: "bun",
    fragments: false,
    pause: true,
    terminate: true,
    idleTimeout: true,
    controlFrames: true,
  },

  listen(options: ListenOptions): Promise<Listener> {
    const server = Bun.serve<SocketData, never>({
      hostname: options.host,
      port: options.port,
      reusePort: options.reusePort,
      fetch: (request, server) =>
        new Promise<Response | undefined>((respond) => {
          options.onRequest(exchange(request, server, respond));
        }),
      websocket: {
        maxPayloadLength: options.settings.package_max_length,
        backpressureLimit: NEVER_DROP,
        closeOnBackpressureLimit: false,
        perMessageDeflate: false,
        // Bun pings a silent peer and drops it itself; it takes whole seconds up to 960.
        idleTimeout: Math.min(
          BUN_MAX_IDLE_TIMEOUT,
          Math.ceil(options.settings.websocket_idle_timeout),
        ),
        sendPings: true,
        open: (ws) => ws.data.events.receiveOpen(link(ws)),
        message: (ws, message) =>
          ws.data.events.receiveMessage(typeof message === "string" ? message : toBytes(message)),
        ping: (ws, data) => ws.data.events.receivePing(toBytes(data)),
        pong: (ws, data) => ws.data.events.receivePong(toBytes(data)),
        close: (ws, code, reason) => ws.data.events.receiveClose(code, reason),
        drain: (ws) => ws.data.events.receiveDrain(),
      },
    });
    return Promise.resolve({
      host: server.hostname ?? options.host,
      port: server.port ?? options.port,
      close: () => server.stop(false),
    });
  },
};

function toBytes(data: Buffer): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Bytes are never backed by a SharedArrayBuffer here, which is all the DOM type rules out. */
type ResponseBody = ConstructorParameters<typeof Response>[0];

function exchange(
  request: Request,
  server: BunServer<SocketData>,
  respond: (response: Response | undefined) => void,
): HttpExchange {
  const url = request.url;
  const pathAt = url.indexOf("/", url.indexOf("//") + 2);
  const address = server.requestIP(request);
  return {
    method: request.method,
    target: pathAt < 0 ? "/" : url.slice(pathAt),
    headers: Object.fromEntries(request.headers),
    remoteAddress: address?.address ?? "",
    remotePort: address?.port ?? 0,
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
      // An empty value stops Bun from picking the first offered subprotocol on its own.
      const headers = [...head.headers, ["Sec-WebSocket-Protocol", protocol ?? ""]];
      if (!server.upgrade(request, { data: { events }, headers: headers as [string, string][] })) {
        return false;
      }
      respond(undefined);
      return true;
    },
  };
}

function link(ws: ServerWebSocket<SocketData>): WebSocketLink {
  return {
    send: (data) => ws.send(data),
    ping: (data) => ws.ping(data),
    pong: (data) => ws.pong(data),
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
    get bufferedAmount() {
      return ws.getBufferedAmount();
    },
    requestDrain: () => {}, // Bun calls drain on its own while anything is buffered.
    pause: () => ws.pause(),
    resume: () => ws.resume(),
  };
}
