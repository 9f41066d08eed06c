/**
 * Node adapter: `node:http` for requests, `ws` (`noServer`, `handleUpgrade`) for WebSockets.
 *
 * @module
 */

import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";
import type { Duplex, Writable } from "node:stream";
import { urlPort, webExchange } from "./web.ts";
import { WebSocketServer } from "ws";
import { NodeLink } from "./ws_link.ts";
import { CLOSE } from "../core/constants.ts";
import { BodyCollector, declaredLength } from "./body.ts";
import { createRecord } from "../core/record.ts";
import type {
  Adapter,
  BodyResult,
  HttpExchange,
  Listener,
  ListenOptions,
  Mount,
  MountOptions,
  ResponseHead,
} from "./types.ts";

/** What the core needs to finish one handshake, looked up from `ws`'s callbacks. */
interface PendingUpgrade {
  protocol: string | undefined;
  headers: [string, string][];
}

/**
 * permessage-deflate without context takeover either way, as Bun's shared compressor does: each
 * message stands alone, so nothing is kept per connection between messages but ws's zlib
 * streams, which are made on a connection's first compressed message and which a 4 KiB window
 * and memLevel 4 keep to 24 KiB (from 256 KiB); 4 KiB JSON then compresses to 0.150 of its size
 * against 0.147 with the full window. The core picks the messages (`FLAG.COMPRESS`, 128 bytes).
 */
const PER_MESSAGE_DEFLATE = {
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
  serverMaxWindowBits: 12,
  zlibDeflateOptions: { level: 1, memLevel: 4 },
  threshold: 0,
};

/**
 * Leaves in `Sec-WebSocket-Extensions` only the permessage-deflate offers that
 * {@link PER_MESSAGE_DEFLATE} can take, so that a client asking for what the server does not do
 * (a window under 4 KiB, an unknown or malformed parameter) is declined, as RFC 7692 says and
 * Bun does, instead of refused with 400 as ws would. ws refuses the whole upgrade if any part of
 * the header does not parse, so what is kept must be what ws parses: the header is rebuilt from
 * the kept offers alone.
 */
function keepAcceptableOffers(request: IncomingMessage): void {
  const header = request.headers["sec-websocket-extensions"];
  if (header === undefined) return;
  const acceptable = header.split(",").map(trimSpace).filter(isAcceptableOffer);
  if (acceptable.length > 0) request.headers["sec-websocket-extensions"] = acceptable.join(", ");
  else delete request.headers["sec-websocket-extensions"];
}

/** RFC 7230's token: what ws takes as a name or a value. */
const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";

/**
 * One extension parameter (RFC 6455 §9.1): a name, then maybe "=" and a token or a quoted token,
 * with no whitespace around the "=" (ws refuses `server_max_window_bits= 15`).
 */
const PARAMETER = new RegExp(`^(${TOKEN})(?:=(?:(${TOKEN})|"(${TOKEN})"))?$`);

/**
 * A window size (RFC 7692 §7.1.2): a decimal integer from 8 to 15 without leading zeros. ws
 * would take anything `Number()` reads as one (`0x0f`, `15.0`); Bun declines those too.
 */
const WINDOW_BITS = /^(?:[89]|1[0-5])$/;

/** Whitespace as the header grammar has it (OWS): spaces and tabs, not what `trim()` takes. */
function trimSpace(text: string): string {
  return text.replace(/^[ \t]+|[ \t]+$/g, "");
}

function isAcceptableOffer(offer: string): boolean {
  const [name, ...parameters] = offer.split(";").map(trimSpace);
  if (name !== "permessage-deflate") return false;
  const seen = new Set<string>();
  return parameters.every((parameter) => {
    const match = PARAMETER.exec(parameter);
    if (match === null) return false;
    const [, key, token, quoted] = match;
    if (seen.has(key)) return false;
    seen.add(key);
    const value = token ?? quoted;
    switch (key) {
      case "server_no_context_takeover":
      case "client_no_context_takeover":
        return value === undefined;
      case "client_max_window_bits":
        return value === undefined || WINDOW_BITS.test(value);
      case "server_max_window_bits":
        return value !== undefined && WINDOW_BITS.test(value) &&
          Number(value) >= PER_MESSAGE_DEFLATE.serverMaxWindowBits;
      default:
        return false;
    }
  });
}

/** How long a client may take to send its request headers: Bun's fixed limit, measured. */
const HEADERS_TIMEOUT_MS = 10_000;

/** The Node adapter. */
export const nodeAdapter: Adapter = {
  capabilities: {
    runtime: "node",
    fragments: true,
    compression: true,
    pause: true,
    terminate: true,
    idleTimeout: false,
    controlFrames: true,
    reportsAbandonedHandshake: true,
  },

  listen(options: ListenOptions): Promise<Listener> {
    let closing = false;
    const serverOptions = {
      // Drop a client that sends its headers too slowly (slowloris) after 10 s, as Bun does;
      // Node checks only every connectionsCheckingInterval, 30 s by default.
      headersTimeout: HEADERS_TIMEOUT_MS,
      maxHeaderSize: options.settings.http_max_header_size,
      connectionsCheckingInterval: 1000,
      ...options.tls,
    };
    const onRequest = (request: IncomingMessage, response: ServerResponse) => {
      options.onRequest(httpExchange(request, response, () => closing && server));
    };
    const server: Server = options.tls
      ? createHttpsServer(serverOptions, onRequest)
      : createServer(serverOptions, onRequest);
    server.on("upgrade", upgrader(options));
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(
        { host: options.host, port: options.port, reusePort: options.reusePort },
        () => {
          server.off("error", reject);
          const address = server.address() as { address: string; port: number };
          resolve({
            host: address.address,
            port: address.port,
            close: () =>
              new Promise<void>((done) => {
                closing = true;
                server.close(() => done());
                server.closeIdleConnections();
              }),
          });
        },
      );
    });
  },

  mount,
};

const NO_BODY = Promise.resolve(new Uint8Array(0));

/**
 * The mount: an `http.Server` the user runs hands over its `upgrade` and `request` events, and
 * a host with a fetch-style handler on Node (`@hono/node-server`) its web `Request`.
 */
function mount(options: MountOptions): Mount {
  const upgrade = upgrader(options);
  // The host hands over its own node:http objects; the mount's types only describe them.
  return {
    upgrade: (request, socket, head) =>
      upgrade(request as IncomingMessage, socket as unknown as Duplex, head),
    request(request, response) {
      options.onRequest(
        httpExchange(request as IncomingMessage, response as ServerResponse, () => false),
      );
    },
    fetch(request, env) {
      // @hono/node-server passes { incoming, outgoing }: the client's address is the socket's.
      const socket = (env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket;
      const from = {
        remoteAddress: socket?.remoteAddress ?? "",
        remotePort: socket?.remotePort ?? 0,
        localPort: socket?.localPort ?? urlPort(request.url),
      };
      // A web Request carries no socket to upgrade: node:http hosts hand upgrades to upgrade().
      return new Promise((respond) =>
        options.onRequest(webExchange(request, from, respond, () => false))
      );
    },
  };
}

/**
 * The listener of an `http.Server`'s `upgrade` event that completes handshakes with one
 * `ws` server (`noServer`) for all of them.
 */
function upgrader(
  options: MountOptions,
): (request: IncomingMessage, socket: Duplex, head: Uint8Array) => void {
  const pending = new WeakMap<IncomingMessage, PendingUpgrade>();
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: options.settings.websocket_compression && PER_MESSAGE_DEFLATE,
    // Also bounds an inflated message: a zip bomb closes with 1009 as it inflates.
    maxPayload: options.settings.package_max_length,
    // A message is bounded by its bytes, as on Bun and Deno, not by ws's 16,384 fragments: one
    // per 8 bytes of the limit takes any real fragmenting (a fragment's header alone is 6 to
    // 14 bytes) and keeps ws's bookkeeping (~100 B a fragment) within ~12x the limit.
    maxFragments: Math.ceil(options.settings.package_max_length / 8),
    // The core checked the offer; false sends no Sec-WebSocket-Protocol header.
    handleProtocols: (_offered, request) => pending.get(request)?.protocol ?? false,
  });
  wss.on("headers", (headers, request) => {
    for (const [name, value] of pending.get(request)?.headers ?? []) {
      headers.push(`${name}: ${value}`);
    }
  });
  return (request, duplex, head) => {
    const socket = duplex as Socket;
    // A reset before the handshake ends is not our failure. A shared function, not a closure:
    // a closure here would keep this whole request alive for the life of the connection.
    socket.on("error", ignore);
    options.onRequest(upgradeExchange(request, socket, (head101, protocol, events) => {
      if (socket.destroyed) return false; // The client left before the handler upgraded.
      if (options.settings.websocket_compression) keepAcceptableOffers(request);
      pending.set(request, { protocol, headers: head101.headers });
      // ws answers a handshake it refuses and closes the socket without calling back: report
      // that close, or the handler would wait in upgrade() for good.
      const refused = () => events.receiveClose(CLOSE.ABNORMAL, "");
      socket.once("close", refused);
      const buffer = Buffer.isBuffer(head)
        ? head
        : Buffer.from(head.buffer, head.byteOffset, head.byteLength);
      wss.handleUpgrade(request, socket, buffer, (ws) => {
        pending.delete(request);
        socket.off("close", refused);
        events.receiveOpen(new NodeLink(ws, socket, events));
      });
      return true;
    }));
  };
}

/** See {@link HttpExchange.readBody}. */
function readBody(request: IncomingMessage, limit: number, stop: AbortSignal): Promise<BodyResult> {
  // Node's parser refuses a repeated or invalid Content-Length itself.
  const declared = declaredLength(request.headers["content-length"]);
  if (declared === undefined && request.headers["transfer-encoding"] === undefined) {
    return NO_BODY;
  }
  if (typeof declared === "number" && declared > limit) {
    request.resume(); // Discard it: see below.
    return Promise.resolve("too large");
  }
  return new Promise((resolve, reject) => {
    const body = new BodyCollector(typeof declared === "number" ? declared : undefined);
    const settle = (result: BodyResult) => {
      request.off("data", onData);
      stop.removeEventListener("abort", onStop);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      if (body.size + chunk.byteLength <= limit) {
        body.add(chunk);
        return;
      }
      // Discard the rest rather than stop reading: closing a socket with unread data makes the
      // kernel reset it and drop the 413 before the client can read it.
      request.resume();
      settle("too large");
    };
    const onStop = () => {
      request.pause();
      settle("stopped");
    };
    request.on("data", onData);
    request.on("end", () => settle(body.bytes()));
    request.on("error", reject);
    stop.addEventListener("abort", onStop);
  });
}

function requestHeaders(request: IncomingMessage): Record<string, string> {
  const headers = createRecord<string>();
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return headers;
}

function exchangeBase(request: IncomingMessage) {
  return {
    method: request.method ?? "GET",
    target: request.url ?? "/",
    headers: requestHeaders(request),
    remoteAddress: request.socket.remoteAddress ?? "",
    remotePort: request.socket.remotePort ?? 0,
    localPort: request.socket.localPort ?? 0,
    secure: (request.socket as { encrypted?: boolean }).encrypted === true,
  };
}

/** Adds Content-Length unless the handler set it: Node would otherwise send chunked. */
function withLength(head: ResponseHead, body: Uint8Array): [string, string][] {
  const hasLength = head.headers.some(([name]) => name.toLowerCase() === "content-length");
  return hasLength ? head.headers : [...head.headers, ["Content-Length", String(body.byteLength)]];
}

function httpExchange(
  request: IncomingMessage,
  response: ServerResponse,
  closingServer: () => false | Server,
): HttpExchange {
  return {
    ...exchangeBase(request),
    readBody: (limit, stop) => readBody(request, limit, stop),
    respond(head, body) {
      response.writeHead(head.status, head.reason || undefined, withLength(head, body).flat());
      response.end(body, () => {
        // server.close() waits for keep-alive connections: hang up on those now idle.
        const server = closingServer();
        if (server) setImmediate(() => server.closeIdleConnections());
      });
    },
    stream(head) {
      response.writeHead(head.status, head.reason || undefined, head.headers.flat());
      return {
        write: (chunk) => written(response, () => response.write(chunk)),
        end: () => response.end(),
      };
    },
    upgrade: () => false, // Not an upgrade request: the core answers 400 before asking.
  };
}

function upgradeExchange(
  request: IncomingMessage,
  socket: Socket,
  upgrade: HttpExchange["upgrade"],
): HttpExchange {
  return {
    ...exchangeBase(request),
    readBody: () => NO_BODY, // A GET that asks to switch protocols carries no body.
    // node:http leaves an upgrade request's socket to us: these write the response by hand.
    stream(head) {
      socket.write(rawHead(head, [...head.headers, ["Transfer-Encoding", "chunked"]]));
      return {
        write: (chunk) =>
          // An empty chunk would end a chunked body.
          chunk.byteLength === 0 ? Promise.resolve(!socket.destroyed) : written(socket, () => {
            socket.write(`${chunk.byteLength.toString(16)}\r\n`);
            socket.write(chunk);
            return socket.write("\r\n");
          }),
        end: () => socket.end("0\r\n\r\n"),
      };
    },
    respond(head, body) {
      socket.end(Buffer.concat([rawHead(head, withLength(head, body)), body]));
    },
    upgrade,
  };
}

/**
 * A response head for a socket that node:http left to us. The core has refused any value with
 * a character that Latin-1 cannot hold, so nothing written here can become a line break.
 */
function rawHead(head: ResponseHead, headers: [string, string][]): Buffer {
  const lines = [`HTTP/1.1 ${head.status} ${head.reason || STATUS_CODES[head.status] || ""}`];
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  lines.push("Connection: close", "", "");
  return Buffer.from(lines.join("\r\n"), "latin1");
}

/**
 * Runs `write`; resolves true once `stream` has taken what it wrote below its buffer limit,
 * false once the client has gone.
 */
function written(stream: Writable, write: () => boolean): Promise<boolean> {
  return new Promise((resolve) => {
    if (stream.destroyed) return resolve(false);
    if (write()) return resolve(true);
    const settle = () => {
      stream.off("drain", settle);
      stream.off("close", settle);
      resolve(!stream.destroyed);
    };
    stream.once("drain", settle);
    stream.once("close", settle);
  });
}

function ignore(): void {}
