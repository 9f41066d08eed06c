/**
 * The client on Node: `ws`'s `WebSocket` over `node:http` and `node:net`, which pauses, pings,
 * sends fragments, compresses and shows a refused handshake's status, headers and body, linked to
 * the core by the server's {@link NodeLink}. Deno and Bun run the project's own engine over their
 * native sockets instead (client_engine.ts): `ws` over their `node:net` made 0.6-0.7 of the round
 * trips of their own `WebSocket`.
 *
 * @module
 */

import type { ClientRequest, IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { WebSocket } from "ws";
import { ERROR } from "../core/constants.ts";
import { concatBytes } from "../core/frame.ts";
import { BODY_LIMIT, BODY_WAIT_MS } from "./client_handshake.ts";
import { RUNTIME } from "./detect.ts";
import { nodeAdapter } from "./node.ts";
import { NodeLink } from "./ws_link.ts";
import type { WebSocketEvents } from "./types.ts";
import type { ClientAdapter, ClientConnectOptions, ClientHandshake } from "../client/contract.ts";

/** The client side of the server's permessage-deflate parameters (src/adapters/node.ts). */
const PER_MESSAGE_DEFLATE = {
  clientNoContextTakeover: true,
  serverNoContextTakeover: true,
  zlibDeflateOptions: { level: 1, memLevel: 4 },
  threshold: 0,
};

/**
 * A client adapter around `ws`'s client class on `runtime`.
 *
 * @param Client `ws`'s `WebSocket` class, as the runtime loaded it
 * @param runtime the runtime's name, for the capabilities
 * @returns the adapter
 */
export function wsClientAdapter(Client: typeof WebSocket, runtime: string): ClientAdapter {
  return {
    capabilities: { ...nodeAdapter.capabilities, runtime, idleTimeout: false },
    connect: (options, events) => connect(Client, options, events),
  };
}

/** The Node client adapter (Deno's Node compatibility would run it as it is). */
export const nodeClientAdapter: ClientAdapter = wsClientAdapter(WebSocket, RUNTIME);

function connect(
  Client: typeof WebSocket,
  options: ClientConnectOptions,
  events: WebSocketEvents,
): Promise<ClientHandshake> {
  return new Promise((resolve) => {
    let socket: Socket | undefined;
    let headers: Record<string, string> = {};
    let body: Uint8Array | undefined;
    const ws = new Client(options.url, options.protocols, {
      headers: options.headers,
      perMessageDeflate: options.compression && PER_MESSAGE_DEFLATE,
      maxPayload: options.maxPayload,
      rejectUnauthorized: options.verifyPeer,
      handshakeTimeout: options.timeoutMs,
      followRedirects: false,
      finishRequest: offerAsBrowsersDo(options.protocols),
    });
    // ws's handshakeTimeout is the socket's idle timeout: a server that trickles its answer a
    // byte at a time never lets it fire. This deadline is for the whole handshake.
    const deadline = setTimeout(() => {
      fail(0, ERROR.TIMEOUT, `no handshake within ${options.timeoutMs} ms`);
      ws.terminate();
    }, options.timeoutMs);
    let fail = (status: number, code: number, message: string) => {
      clearTimeout(deadline);
      ws.off("error", onError);
      ws.on("error", ignore); // ws may report the same failure again.
      fail = ignore; // Once.
      resolve({ status, headers, body, protocol: "", error: { code, message } });
    };
    const onError = (error: Error & { code?: string }) => {
      const code = error.code === "ECONNREFUSED"
        ? ERROR.CONNECTION_REFUSED
        : /timed out/i.test(error.message)
        ? ERROR.TIMEOUT
        : ERROR.WEBSOCKET_HANDSHAKE_FAILED;
      fail(0, code, error.message);
    };
    ws.on("error", onError);
    ws.once("upgrade", (response: IncomingMessage) => {
      socket = response.socket as Socket;
      headers = answerHeaders(response);
    });
    ws.once("unexpected-response", (request, response: IncomingMessage) => {
      headers = answerHeaders(response);
      // The body says why (a 401's or 503's text): kept up to BODY_LIMIT, waited for a moment.
      const parts: Uint8Array[] = [];
      let kept = 0;
      // Once the body has ended the socket is no longer the request's to destroy.
      const answerSocket = response.socket;
      const finish = () => {
        clearTimeout(wait);
        response.off("data", onData);
        request.destroy();
        answerSocket?.destroy();
        body = concatBytes(parts);
        fail(
          response.statusCode ?? 0,
          ERROR.WEBSOCKET_HANDSHAKE_FAILED,
          `the server answered ${response.statusCode} instead of 101`,
        );
      };
      const onData = (chunk: Uint8Array) => {
        const part = chunk.subarray(0, BODY_LIMIT - kept);
        parts.push(part);
        kept += part.length;
        if (kept >= BODY_LIMIT) finish();
      };
      const wait = setTimeout(finish, BODY_WAIT_MS);
      response.on("data", onData);
      response.once("end", finish);
      response.once("error", finish);
      response.once("close", finish);
    });
    ws.once("open", () => {
      clearTimeout(deadline);
      ws.off("error", onError);
      events.receiveOpen(new NodeLink(ws, socket!, events));
      resolve({ status: 101, headers, protocol: ws.protocol });
    });
  });
}

/**
 * Sends the subprotocol offers joined with ", ", as browsers do, instead of ws's ",".
 * `Deno.upgradeWebSocket` (2.9.6) splits the offer on ", " alone: given "a,b" it throws "Protocol
 * 'b' not in the request's protocol list" for a server that chose "b", and the upgrade fails.
 * ws still checks the answer against the offers it was given.
 */
function offerAsBrowsersDo(protocols: string[]): (request: ClientRequest) => void {
  return (request) => {
    if (protocols.length > 1) request.setHeader("Sec-WebSocket-Protocol", protocols.join(", "));
    request.end();
  };
}

function answerHeaders(response: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return headers;
}

function ignore(): void {}
