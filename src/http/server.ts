/**
 * The server: settings, routing, the request loop and shutdown, shared by every runtime.
 *
 * @module
 */

import { MalformedBodyError } from "./multipart.ts";
import { readFileSync } from "node:fs";
import { detectAdapter, detectMountAdapter } from "../adapters/detect.ts";
import { websocketHandlers } from "../adapters/bun.ts";
import type {
  BunServerLike,
  BunWebSocketHandler,
  NodeHttpServer,
  NodeRequest,
  NodeResponse,
  NodeSocket,
} from "./host.ts";
import { requestTarget } from "../adapters/web.ts";
import type {
  BodyResult,
  HttpExchange,
  Listener,
  Mount,
  RuntimeCapabilities,
} from "../adapters/types.ts";
import { declaredLength } from "../adapters/body.ts";
import type { BrokerLink, BrokerMessage, PubSubBroker } from "../pubsub/broker.ts";
import { CLOSE, FLAG, OPCODE, type Opcode } from "../core/constants.ts";
import { LifecycleError } from "../core/errors.ts";
import type { WebSocketConnection } from "../core/connection.ts";
import { connectionContext } from "../core/context.ts";
import { asPayload } from "../core/payload.ts";
import { type FrameData, pushFlags } from "../core/frame.ts";
import { Request, targetPath } from "./request.ts";
import { finishResponse, offerMessage, Response, type ResponseContext } from "./response.ts";
import { Router } from "./router.ts";
import process from "node:process";
// Node's timers on every runtime: the exit bound must not keep the process alive (unref).
import { setTimeout as setUnrefableTimeout } from "node:timers";
import {
  escapeForLog,
  type Logger,
  now,
  Observer,
  prometheusText,
  type ServerMetrics,
} from "../core/observer.ts";
import {
  DEFAULT_SETTINGS,
  mergeSettings,
  type ResolvedSettings,
  type Settings,
} from "../core/settings.ts";

const encoder = new TextEncoder();

const NO_BODY = new Uint8Array(0);

/**
 * A request handler: one call per request, for its whole life. For a WebSocket it runs as
 * long as the connection; when it returns the connection is closed with 1000, when it throws
 * with 1011 (HTTP: 500).
 *
 * @example
 * ```ts
 * import { type Handler, Server } from "../../mod.ts";
 * const hello: Handler = (_request, response) => response.end("hello");
 * new Server("127.0.0.1", 0).handle("/", hello);
 * ```
 */
// What it returns is awaited, then ignored: `(req, res) => res.end("hi")` is a handler too.
export type Handler = (request: Request, response: Response) => unknown;

/**
 * What {@link Server.stats} reports, with Swoole's names.
 *
 * @example
 * ```ts
 * import { Server, type ServerStats } from "../../mod.ts";
 * const server = new Server("127.0.0.1", 0);
 * const { connection_num, coroutine_num }: ServerStats = server.stats();
 * ```
 */
export interface ServerStats {
  /** WebSockets upgraded and not yet closed. */
  connection_num: number;
  /** Handlers still running (HTTP and WebSocket). */
  coroutine_num: number;
}

/**
 * Where the server listens once bound.
 *
 * @example
 * ```ts
 * import { Server } from "../../mod.ts";
 * const server = new Server("127.0.0.1", 0);
 * void server.start();
 * const { host, port } = await server.listening;
 * console.log(`listening on http://${host}:${port}`);
 * ```
 */
export interface Address {
  /** The bound address, e.g. "127.0.0.1" or "::1". */
  host: string;
  /** The bound port: the one asked for, or the free one picked for 0. */
  port: number;
}

/**
 * A coroutine-style HTTP and WebSocket server: Swoole's `Coroutine\Http\Server` on Deno, Bun
 * and Node.
 *
 * @example Echo server
 * ```ts
 * import { Server } from "../../mod.ts";
 * const server = new Server("127.0.0.1", 0);
 * server.handle("/websocket", async (request, ws) => {
 *   await ws.upgrade();
 *   for await (const frame of ws) await ws.push(`Hello ${frame.data}!`);
 * });
 * server.start();
 * console.log(await server.listening);
 * await server.shutdown();
 * ```
 */
export class Server {
  /** The host to bind. */
  readonly host: string;
  /** The port asked for; 0 picks a free one (see {@link Server.listening}). */
  readonly port: number;
  /** Whether to serve TLS. */
  readonly ssl: boolean;
  /** Whether several processes may bind the same port. */
  readonly reusePort: boolean;

  #settings: ResolvedSettings = DEFAULT_SETTINGS;
  readonly #router = new Router<Handler>();
  #listener: Listener | undefined;
  /** "listen" once start() was called; "mount" once a host server handed a request over. */
  #mode: "listen" | "mount" | undefined;
  /** The broker connected and the access log set: what both modes need first. */
  #prepared: Promise<void> | undefined;
  /** The adapters serving what host servers hand over, by entry. */
  readonly #mounts = new Map<"fetch" | "node:http", Promise<Mount>>();
  #nextFd = 1;
  readonly #observer = new Observer();
  /**
   * Handlers running: counted before a handler starts, so one that reports stats counts itself.
   * A count, not a set of their promises: a set would cost every connection an entry.
   */
  #running = 0;
  /** Set while shutdown() waits for the running handlers to end. */
  #allEnded: (() => void) | undefined;
  /** Bytes reserved for request bodies being read or handled; see `http_body_memory_limit`. */
  #bodyBytes = 0;
  /** Aborts when shutdown starts: request bodies still arriving are not waited for. */
  readonly #stopping = new AbortController();
  readonly #connections = new Set<WebSocketConnection>();
  /** Upgraded connections that are open: what {@link Server.connections} shows. */
  readonly #open = new Set<Response>();
  readonly #topics = new Map<string, Set<Response>>();
  #broker: PubSubBroker | undefined;
  #brokerLink: BrokerLink | undefined;
  readonly #listening: Promise<Address>;
  /** Someone awaits `listening`: a failed start() is theirs to report, not start()'s too. */
  #listeningWatched = false;
  /** What start() returned. */
  #started: Promise<void> | undefined;
  #resolveListening!: (address: Address) => void;
  #rejectListening!: (error: unknown) => void;
  #stopped: Promise<void> | undefined;
  #resolveStopped!: () => void;
  #shutdown: Promise<void> | undefined;

  /**
   * Makes a server; nothing is bound until `start()`.
   *
   * @param host the address to bind, e.g. "127.0.0.1" or "::1"
   * @param port the port; 0 picks a free one
   * @param ssl serve TLS (`ssl_cert_file` and `ssl_key_file` settings)
   * @param reusePort let several processes bind the same port
   */
  constructor(host: string, port = 0, ssl = false, reusePort = false) {
    this.host = host;
    this.port = port;
    this.ssl = ssl;
    this.reusePort = reusePort;
    this.#listening = new Promise((resolve, reject) => {
      this.#resolveListening = resolve;
      this.#rejectListening = reject;
    });
    this.#listening.catch(() => {}); // start() rejects too; this copy must not go unhandled.
  }

  /**
   * Resolves with the bound address once listening; rejects if binding failed. A failed
   * start() is reported once: here when this is awaited, else by start()'s own promise.
   */
  get listening(): Promise<Address> {
    this.#listeningWatched = true;
    return this.#listening;
  }

  /**
   * Changes settings (Swoole's snake_case names); call it before `start()`.
   *
   * @throws {TypeError} for an unknown setting or a value of the wrong type
   * @throws {LifecycleError} once the server has started or is mounted
   * @example
   * ```ts
   * import { Server } from "../../mod.ts";
   * const server = new Server("127.0.0.1", 0);
   * server.set({ websocket_close_timeout: 2 });
   * ```
   */
  set(settings: Settings): void {
    if (this.#stopped) {
      throw new LifecycleError("STARTED", "Cannot set(): the server has started or is mounted");
    }
    this.#settings = mergeSettings(this.#settings, settings);
  }

  /**
   * Shares `publish()` and `broadcast()` with every other server that uses the same broker:
   * `MemoryBroker` for servers in this process, `RedisBroker` (from `coro-ws/redis`) across
   * processes and hosts. Call it before `start()`, which connects to the broker and rejects if
   * it cannot.
   *
   * @example
   * ```ts
   * import { MemoryBroker, Server } from "../../mod.ts";
   * const broker = new MemoryBroker();
   * const server = new Server("127.0.0.1", 0);
   * server.useBroker(broker);
   * ```
   */
  useBroker(broker: PubSubBroker): void {
    if (this.#stopped) {
      throw new LifecycleError(
        "STARTED",
        "Cannot useBroker(): the server has started or is mounted",
      );
    }
    this.#broker = broker;
  }

  /**
   * Sends what the server has to say to `logger` instead of `console`: errors (a handler threw
   * or forgot to answer, a failed `sendfile()`, broker outages), warnings (limits hit: 408,
   * 413, 431, 503, 1009; messages skipped for slow consumers) and, with the `access_log`
   * setting, one info line per HTTP request and per WebSocket. See {@link Logger}.
   *
   * @throws {TypeError} for anything without `error`, `warn` and `info` methods
   * @example pino, or anything with console's methods
   * ```ts
   * import { Server } from "../../mod.ts";
   * const server = new Server("127.0.0.1", 0);
   * server.set({ access_log: true });
   * server.useLogger({
   *   error: (message) => console.error(new Date().toISOString(), message),
   *   warn: (message) => console.warn(new Date().toISOString(), message),
   *   info: (message) => console.info(new Date().toISOString(), message),
   * });
   * ```
   */
  useLogger(logger: Logger): void {
    const methods = ["error", "warn", "info"] as const;
    if (
      typeof logger !== "object" || logger === null ||
      methods.some((method) => typeof logger[method] !== "function")
    ) {
      throw new TypeError(
        "useLogger(): pass a logger with error, warn and info methods, such as console or pino",
      );
    }
    this.#observer.logger = logger;
  }

  /**
   * The server's counters and gauges now: open WebSockets, running handlers, HTTP responses by
   * status class, WebSocket messages and bytes each way, closes by code, handler errors,
   * messages skipped for slow consumers, and the broker's state. See {@link ServerMetrics}.
   *
   * @example
   * ```ts
   * import { Server } from "../../mod.ts";
   * const server = new Server("127.0.0.1", 0);
   * console.log(server.metrics().http_responses_total["5xx"]); // 0
   * ```
   */
  metrics(): ServerMetrics {
    const observer = this.#observer;
    const up = this.#brokerLink?.up;
    return {
      websockets_open: this.#open.size,
      handlers_running: this.#running,
      http_responses_total: { ...observer.responses },
      websocket_messages_received_total: observer.messagesIn,
      websocket_messages_sent_total: observer.messagesOut,
      websocket_bytes_received_total: observer.bytesIn,
      websocket_bytes_sent_total: observer.bytesOut,
      websocket_closes_total: Object.fromEntries(observer.closes),
      handler_errors_total: observer.handlerErrors,
      publish_skipped_total: observer.skipped,
      ...(up === undefined ? {} : { broker_up: up ? 1 : 0 }),
    };
  }

  /**
   * {@link Server.metrics} in Prometheus's text exposition format, to serve on a route of your
   * choice (keep it from the public).
   *
   * @example
   * ```ts
   * import { Server } from "../../mod.ts";
   * const server = new Server("127.0.0.1", 0);
   * server.handle("/metrics", (request, response) => {
   *   response.header("Content-Type", "text/plain; version=0.0.4");
   *   response.end(server.metricsText());
   * });
   * ```
   */
  metricsText(): string {
    return prometheusText(this.metrics());
  }

  /**
   * Shuts the server down gracefully on SIGINT and SIGTERM, what Ctrl-C, Docker, Kubernetes and
   * systemd send: WebSocket clients get 1001 and handlers get `max_wait_time`. Then `start()`
   * settles, so the program's own code after it runs, and the process ends with 0 once that is
   * done (or `max_wait_time` later, if something it left would keep the process alive). A
   * mounted server's process exits at once: the host still listens. A second signal exits at
   * once (130 for SIGINT, 143 for SIGTERM). Call it in the program that owns the process: a
   * library does not take a process's signals unasked.
   *
   * @returns a function that removes the signal handlers again
   * @example Clean up after the server has stopped
   * ```ts
   * import { Server } from "../../mod.ts";
   * const server = new Server("127.0.0.1", 0);
   * server.shutdownOnSignals();
   * const stopped = server.start();
   * await server.listening;
   * await server.shutdown(); // In a program, a signal does this.
   * await stopped;
   * console.log("closing the database"); // Runs before the process exits.
   * ```
   */
  shutdownOnSignals(): () => void {
    let stopping = false;
    const onSignal = (signal: "SIGINT" | "SIGTERM") => {
      if (stopping) {
        this.#observer.warn(`${signal} again: exiting without waiting`);
        process.exit(128 + SIGNAL_NUMBERS[signal]);
      }
      stopping = true;
      this.#observer.warn(`${signal}: shutting down (${signal} again to exit at once)`);
      void this.shutdown().then(() => {
        // Mounted, the host still listens and nothing of the program waits on this server.
        if (this.#mode === "mount") process.exit(0);
        // start() has settled: the program's own code after it runs now, and the process ends
        // once that is done, or after max_wait_time if what it left would keep it alive.
        removeHandlers();
        setUnrefableTimeout(() => process.exit(0), this.#settings.max_wait_time * 1000).unref();
      });
    };
    const removeHandlers = () => {
      for (const signal of SHUTDOWN_SIGNALS) process.off(signal, onSignal);
    };
    for (const signal of SHUTDOWN_SIGNALS) process.on(signal, onSignal);
    return removeHandlers;
  }

  /**
   * Routes requests whose path starts with `pattern` (ignoring case) to `handler`; the
   * longest matching pattern wins, `/` catches the rest, and no match answers 404.
   *
   * @throws {TypeError} for a pattern that does not start with "/" or has a query, or a
   * handler that is not a function
   * @example
   * ```ts
   * import { Server } from "../../mod.ts";
   * const server = new Server("127.0.0.1", 0);
   * server.handle("/", (request, response) => response.end("home"));
   * server.handle("/api", (request, response) => response.end("api"));
   * ```
   */
  handle(pattern: string, handler: Handler): void {
    if (typeof handler !== "function") {
      throw new TypeError(
        `Cannot handle(${JSON.stringify(pattern)}): pass a handler function ` +
          `(request, response) => ..., got ${handler === null ? "null" : typeof handler}`,
      );
    }
    this.#router.add(pattern, handler);
  }

  /**
   * Starts listening. Settles when the server has stopped (after `shutdown()`), as Swoole's
   * `start()` returns after shutdown; rejects if the address cannot be bound, and with a
   * {@link LifecycleError} when started twice, after `shutdown()`, or once mounted.
   *
   * @example
   * ```ts
   * import { Server } from "../../mod.ts";
   * const server = new Server("127.0.0.1", 0);
   * server.handle("/", (request, response) => response.end("hi"));
   * const stopped = server.start();
   * await server.listening;
   * await server.shutdown();
   * await stopped;
   * ```
   */
  start(): Promise<void> {
    if (this.#mode === "mount") {
      return Promise.reject(
        new LifecycleError(
          "MOUNTED",
          "Cannot start(): the server is mounted into a host server, which listens",
        ),
      );
    }
    if (this.#shutdown) {
      return Promise.reject(
        new LifecycleError("SHUT_DOWN", "Cannot start(): the server was shut down; make a new one"),
      );
    }
    if (this.#stopped) {
      return Promise.reject(
        new LifecycleError("STARTED", "Cannot start(): the server was started already"),
      );
    }
    this.#mode = "listen";
    this.#stopped = new Promise((resolve) => this.#resolveStopped = resolve);
    this.#started = this.#listen().then(() => this.#stopped);
    return this.#started;
  }

  /**
   * Serves a request from a fetch-style host, a `Deno.serve` or `Bun.serve` handler (or Hono on
   * any runtime), when one of this server's routes matches it: its WebSocket upgrade (through
   * the runtime's own WebSocket) or its HTTP answer. The host keeps its listener, TLS and
   * other routes; this server keeps its routes, settings, limits, topics and broker.
   *
   * @param env what the host passes beside the request: Deno's handler info, Bun's server, or
   * Hono's `c.env` (on Node, `@hono/node-server`'s, which serves HTTP routes only: upgrades
   * come through {@link Server.attach})
   * @returns undefined when no route matches (the host answers), else the answer: undefined
   * once Bun has upgraded, which is what Bun's `fetch` returns then
   * @example Deno: a coro-ws route in a `Deno.serve` app
   * ```ts
   * import { Server } from "../../mod.ts";
   * const coro = new Server("127.0.0.1");
   * coro.handle("/websocket", async (request, ws) => {
   *   if (!await ws.upgrade()) return;
   *   for await (const frame of ws) await ws.push(`Hello ${frame.data}!`);
   * });
   * const app = (_request: Request) => new Response("ok");
   * const handler = (request: Request, info: unknown) => coro.fetch(request, info) ?? app(request);
   * ```
   */
  fetch(
    request: globalThis.Request,
    server: BunServerLike,
  ): Promise<globalThis.Response | undefined> | undefined;
  /**
   * {@link Server.fetch} for Deno (`env`: the handler's info) and Hono (`c.env`): the answer
   * is always a `Response`.
   *
   * @example
   * ```ts
   * import { Server } from "../../mod.ts";
   * const coro = new Server("127.0.0.1");
   * const handler = (request: Request, info: unknown): Response | Promise<Response> =>
   *   coro.fetch(request, info) ?? new Response("ok");
   * ```
   */
  fetch(request: globalThis.Request, env?: unknown): Promise<globalThis.Response> | undefined;
  fetch(
    request: globalThis.Request,
    env?: unknown,
  ): Promise<globalThis.Response | undefined> | undefined {
    const target = requestTarget(request.url, request.headers.get("host") ?? undefined);
    if (!this.#router.match(targetPath(target))) return undefined;
    return this.#mountFor("fetch", "fetch()").then(
      (mount) => mount.fetch(request, env),
      () => new globalThis.Response("Service unavailable\n", { status: 503 }),
    );
  }

  /**
   * The `websocket` handlers for a `Bun.serve` that calls {@link Server.fetch}, with this
   * server's limits (message size, compression, idle timeout). They act only on sockets this
   * server upgraded, so beside another library's WebSockets in the same `Bun.serve`, call both
   * from each handler. Read it after `set()`: the settings are fixed from then on.
   *
   * @example Bun: a coro-ws route in a `Bun.serve` app
   * ```ts
   * import { Server } from "../../mod.ts";
   * const coro = new Server("127.0.0.1");
   * const options = {
   *   fetch: (request: Request, server: unknown) =>
   *     coro.fetch(request, server) ?? new Response("ok"),
   *   websocket: coro.websocket,
   * };
   * ```
   */
  get websocket(): BunWebSocketHandler {
    this.#enterMountMode("websocket");
    return websocketHandlers(this.#settings);
  }

  /**
   * Serves the WebSocket upgrades of an existing Node `http.Server` (or `https.Server`, or the
   * one under Express, Fastify, Koa or `@hono/node-server`, on Node, Deno or Bun) whose paths
   * this server routes, on the same port. Others are left to the host's other `upgrade`
   * listeners, socket untouched; when there is none, they get 404. When the host closes, this
   * server shuts down (WebSockets get 1001).
   *
   * @throws {TypeError} for anything but an `http.Server`
   * @throws {LifecycleError} when this server listens itself
   * @example Express: a coro-ws route beside the app's own
   * ```ts
   * import { createServer } from "node:http";
   * import { Server } from "../../mod.ts";
   * const coro = new Server("127.0.0.1");
   * coro.handle("/websocket", async (request, ws) => {
   *   if (!await ws.upgrade()) return;
   *   for await (const frame of ws) await ws.push(`Hello ${frame.data}!`);
   * });
   * const host = createServer((request, response) => response.end("ok"));
   * coro.attach(host);
   * ```
   */
  attach(host: NodeHttpServer): void {
    const events = host as Partial<NodeHttpServer> | null;
    if (typeof events?.on !== "function" || typeof events.listenerCount !== "function") {
      throw new TypeError(
        "Cannot attach(): pass a node:http or node:https Server (app.listen() in Express, " +
          "fastify.server in Fastify, serve() in @hono/node-server)",
      );
    }
    this.#enterMountMode("attach()");
    host.on("upgrade", (request, socket, head) => {
      if (this.handleUpgrade(request, socket, head)) return;
      // Node leaves an upgrade nobody takes open for good: answer it where no one else can.
      if (host.listenerCount("upgrade") === 1) socket.end(NOT_FOUND_HEAD);
    });
    // Node emits "close" only once every connection has gone, upgraded ones included, so
    // coro-ws's WebSockets would hold it for good: the host's close() starts the shutdown.
    const close = host.close;
    const shutdown = () => void this.shutdown();
    host.close = function (this: NodeHttpServer, ...args: never[]) {
      shutdown();
      return close.apply(this, args);
    };
  }

  /**
   * Takes an upgrade request from a Node `http.Server`'s `upgrade` event when this server
   * routes its path, for a host with its own `upgrade` listener (see {@link Server.attach}
   * for the rest).
   *
   * @returns true when this server took the request; false leaves it, socket included, to
   * the caller
   * @example Beside another WebSocket library on one `http.Server`
   * ```ts
   * import { createServer } from "node:http";
   * import { Server } from "../../mod.ts";
   * const coro = new Server("127.0.0.1");
   * const host = createServer();
   * host.on("upgrade", (request, socket, head) => {
   *   if (!coro.handleUpgrade(request, socket, head)) socket.destroy(); // or another library's
   * });
   * ```
   */
  handleUpgrade(request: NodeRequest, socket: NodeSocket, head: Uint8Array): boolean {
    if (!this.#router.match(targetPath(request.url ?? "/"))) return false;
    void this.#mountFor("node:http", "handleUpgrade()").then(
      (mount) => mount.upgrade!(request, socket, head),
      () => socket.end(UNAVAILABLE_HEAD),
    );
    return true;
  }

  /**
   * Answers a Node HTTP request with this server's handler (Swoole's Request and Response)
   * when it routes the path: for a `node:http` request listener or an Express, Koa or
   * Fastify (`onRequest` hook) middleware. Mount it before any body parser: the body is this
   * server's to read.
   *
   * @returns true when this server took the request; false leaves it to the caller
   * @example Express: Swoole-style HTTP routes inside the app
   * ```ts
   * import type { IncomingMessage, ServerResponse } from "node:http";
   * import { Server } from "../../mod.ts";
   * const coro = new Server("127.0.0.1");
   * coro.handle("/swoole", (request, response) => response.end("from coro-ws"));
   * const middleware = (request: IncomingMessage, response: ServerResponse, next: () => void) =>
   *   coro.handleRequest(request, response) || next();
   * ```
   */
  handleRequest(request: NodeRequest, response: NodeResponse): boolean {
    if (!this.#router.match(targetPath(request.url ?? "/"))) return false;
    const header = request.headers["content-length"];
    const length = declaredLength(Array.isArray(header) ? header.join(", ") : header);
    const hasBody = request.headers["transfer-encoding"] !== undefined ||
      (length !== undefined && length !== 0);
    if (request.readableEnded && hasBody) {
      // Read to its end before the handler could: waiting for it would wait for good.
      this.#observer.error(
        `handleRequest(): the body of ${escapeForLog(request.method ?? "")} ` +
          `${escapeForLog(request.url ?? "")} was read already, by a body parser mounted ` +
          "before coro-ws: mount coro-ws's middleware first; answered 500",
      );
      response.writeHead(500).end("Internal Server Error\n");
      return true;
    }
    void this.#mountFor("node:http", "handleRequest()").then(
      (mount) => mount.request!(request, response),
      () => response.writeHead(503).end("Service unavailable\n"),
    );
    return true;
  }

  /** Marks the server as mounted: settings are fixed, and start() is refused. */
  #enterMountMode(method: string): void {
    if (this.#mode === "listen") {
      throw new LifecycleError(
        "LISTENING",
        `Cannot use ${method}: this server listens itself (start() was called); ` +
          "mount a server that is not started",
      );
    }
    if (this.#mode === "mount") return;
    this.#mode = "mount";
    this.#stopped = new Promise((resolve) => this.#resolveStopped = resolve);
  }

  /** The adapter serving `entry`, made on first use; rejects when the broker cannot connect. */
  #mountFor(entry: "fetch" | "node:http", method: string): Promise<Mount> {
    this.#enterMountMode(method);
    let mount = this.#mounts.get(entry);
    if (!mount) {
      mount = this.#prepare().then(async () => {
        const adapter = await detectMountAdapter(entry);
        const context = this.#contextFor(adapter.capabilities);
        return adapter.mount({
          settings: this.#settings,
          onRequest: (exchange) => this.#serve(exchange, context),
        });
      });
      mount.catch((error) => this.#observer.error(`cannot serve mounted requests: ${error}`));
      this.#mounts.set(entry, mount);
    }
    return mount;
  }

  /**
   * Stops accepting connections, closes open WebSockets with 1001, waits for handlers at
   * most `max_wait_time` seconds, then drops what is left. Before `start()`, it resolves at
   * once (and `start()` then rejects).
   *
   * @example
   * ```ts
   * import { Server } from "../../mod.ts";
   * const server = new Server("127.0.0.1", 0);
   * server.start();
   * await server.listening;
   * await server.shutdown();
   * ```
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#stop();
    return this.#shutdown;
  }

  /**
   * The open WebSocket connections (a live view: a connection leaves it as it closes).
   *
   * @example
   * ```ts
   * import { Server } from "../../mod.ts";
   * const server = new Server("127.0.0.1", 0);
   * server.handle("/who", (request, response) => response.end(`${server.connections.size} online`));
   * ```
   */
  get connections(): ReadonlySet<Response> {
    return this.#open;
  }

  /**
   * Sends `data` to every connection subscribed to `topic` (see `response.subscribe()`), on
   * this server and, through its broker (see {@link Server.useBroker}), on every other.
   * Without `opcode`, a string goes as text and bytes as binary. A connection that cannot take
   * it at once (closing, in the middle of a fragmented message, or with
   * `websocket_write_limit` bytes already buffered: a slow consumer) is skipped for this
   * message rather than buffered for.
   *
   * @param opcode `OPCODE.TEXT` or `OPCODE.BINARY`, to convert `data`
   * @param flags `FLAG.COMPRESS`: compressed as with `push()`, for each connection that
   * negotiated it (`FLAG.FIN` is allowed and changes nothing: a published message is whole)
   * @returns how many of this server's connections it was sent to
   * @throws {RangeError} for another opcode or other flags
   * @example
   * ```ts
   * import { Server } from "../../mod.ts";
   * const server = new Server("127.0.0.1", 0);
   * server.handle("/news", async (request, ws) => {
   *   if (!await ws.upgrade()) return;
   *   ws.subscribe("news");
   *   for await (const _frame of ws);
   * });
   * setInterval(() => server.publish("news", `tick ${Date.now()}`), 1000);
   * ```
   */
  publish(topic: string, data: FrameData, opcode?: Opcode, flags: number = 0): number {
    return this.#publish(brokerMessage("publish()", topic, data, opcode, flags));
  }

  /**
   * Sends `data` to every open connection, here and on the broker's other servers, with
   * {@link Server.publish}'s rules.
   *
   * @param opcode `OPCODE.TEXT` or `OPCODE.BINARY`, to convert `data`
   * @param flags `FLAG.COMPRESS`, as for {@link Server.publish}
   * @returns how many of this server's connections it was sent to
   * @throws {RangeError} for another opcode or other flags
   * @example
   * ```ts
   * import { Server } from "../../mod.ts";
   * const server = new Server("127.0.0.1", 0);
   * server.handle("/shout", (request, response) => {
   *   response.end(`reached ${server.broadcast(request.get.text ?? "")}`);
   * });
   * ```
   */
  broadcast(data: FrameData, opcode?: Opcode, flags: number = 0): number {
    return this.#publish(brokerMessage("broadcast()", null, data, opcode, flags));
  }

  /**
   * How many WebSockets are open and how many handlers are running: a number that only grows
   * is a leak.
   *
   * @example
   * ```ts
   * import { Server } from "../../mod.ts";
   * const server = new Server("127.0.0.1", 0);
   * console.log(server.stats()); // { connection_num: 0, coroutine_num: 0 }
   * ```
   */
  stats(): ServerStats {
    return { connection_num: this.#connections.size, coroutine_num: this.#running };
  }

  #publish(message: BrokerMessage): number {
    const sent = this.#deliver(message);
    this.#brokerLink?.publish(message);
    return sent;
  }

  /** Sends `message` to this server's connections; what a broker calls with other servers'. */
  #deliver(message: BrokerMessage): number {
    const subscribers = message.topic === null ? this.#open : this.#topics.get(message.topic);
    let sent = 0;
    if (subscribers) {
      const compress = message.compress === true;
      for (const subscriber of subscribers) {
        if (offerMessage(subscriber, message.data, compress)) sent++;
      }
      if (sent < subscribers.size) this.#observer.skippedMessages(subscribers.size - sent);
    }
    return sent;
  }

  /** Closes the broker link; later publishes stay local instead of failing on a closed link. */
  async #leaveBroker(): Promise<void> {
    const link = this.#brokerLink;
    this.#brokerLink = undefined;
    await link?.close();
  }

  /** Connects the broker, once, for either mode. */
  #prepare(): Promise<void> {
    this.#prepared ??= (async () => {
      const observer = this.#observer;
      observer.accessLog = this.#settings.access_log;
      this.#brokerLink = await this.#broker?.connect(
        (message) => void this.#deliver(message),
        (error) => observer.error(error.message),
      );
    })();
    return this.#prepared;
  }

  /** What the responses served through an adapter with `capabilities` share. */
  #contextFor(capabilities: RuntimeCapabilities): ResponseContext {
    const observer = this.#observer;
    if (this.#settings.websocket_compression && !capabilities.compression) {
      observer.warn(
        `websocket_compression is on, but ${capabilities.runtime}'s own WebSocket cannot ` +
          'compress: messages go uncompressed (on Deno, websocket_engine "ws" compresses)',
      );
    }
    return {
      ...connectionContext(capabilities, this.#settings, observer),
      track: (connection, open) => {
        if (open) this.#connections.add(connection);
        else this.#connections.delete(connection);
      },
      register: (response, open) => {
        if (open) this.#open.add(response);
        else this.#open.delete(response);
      },
      subscribe: (response, topic, subscribed) => {
        let subscribers = this.#topics.get(topic);
        if (subscribed) {
          if (!subscribers) {
            this.#topics.set(topic, subscribers = new Set());
            this.#brokerLink?.subscribe(topic);
          }
          subscribers.add(response);
        } else if (subscribers?.delete(response) && subscribers.size === 0) {
          this.#topics.delete(topic);
          this.#brokerLink?.unsubscribe(topic);
        }
      },
    };
  }

  async #listen(): Promise<void> {
    try {
      const tls = this.ssl ? readTlsFiles(this.#settings) : undefined;
      const adapter = await detectAdapter(this.#settings.websocket_engine);
      await this.#prepare();
      const context = this.#contextFor(adapter.capabilities);
      this.#listener = await adapter.listen({
        host: this.host,
        port: this.port,
        reusePort: this.reusePort,
        tls,
        settings: this.#settings,
        onRequest: (exchange) => this.#serve(exchange, context),
      });
    } catch (caught) {
      const error = listenError(caught, this.host, this.port);
      await this.#leaveBroker();
      // Two promises rejected with one error would be reported twice (Bun reports both).
      if (this.#listeningWatched) this.#started?.catch(() => {});
      this.#rejectListening(error);
      this.#resolveStopped();
      throw error;
    }
    this.#resolveListening({ host: this.#listener.host, port: this.#listener.port });
  }

  async #stop(): Promise<void> {
    if (!this.#stopped) return; // Never started: nothing to stop.
    if (this.#mode === "listen" && !this.#listener) {
      await this.#listening.catch(() => {});
      if (!this.#listener) return;
    }
    this.#stopping.abort();
    // The requests whose bodies were still arriving get their 503 within this turn: close the
    // listener after it. Deno's graceful shutdown waits for a body that was not answered yet to
    // end, which a client that keeps sending never does.
    await new Promise((resolve) => setTimeout(resolve, 0));
    // Mounted, the host's listener is the host's to close.
    const listenerClosed = this.#listener?.close() ?? Promise.resolve();
    const closing = [...this.#connections];
    for (const connection of closing) {
      void connection.disconnect(CLOSE.GOING_AWAY, "Server shutting down");
    }
    const deadline = this.#settings.max_wait_time * 1000;
    await settleWithin(this.#whenAllEnded(), deadline);
    // A handler can end before its Close went out; a process that exits after shutdown() must
    // not cut it off (Deno writes it later, and a mounted server has no listener to wait on).
    await settleWithin(
      Promise.all(closing.map((connection) => connection.whenReleased())),
      deadline,
    );
    for (const connection of this.#connections) connection.close();
    await this.#leaveBroker();
    await settleWithin(listenerClosed, deadline);
    this.#resolveStopped();
  }

  #serve(exchange: HttpExchange, context: ResponseContext): void {
    // Node refuses a larger head itself, Bun one past 16 KiB; Deno takes up to 64 KiB.
    if (headSize(exchange) > this.#settings.http_max_header_size) {
      this.#refuse(
        exchange,
        431,
        "Request head larger than http_max_header_size",
        CLOSE_CONNECTION,
      );
      return;
    }
    const path = targetPath(exchange.target);
    const handler = this.#shutdown ? undefined : this.#router.match(path);
    if (!handler) {
      this.#refuse(
        exchange,
        this.#shutdown ? 503 : 404,
        this.#shutdown ? "Server shutting down" : "Not Found",
      );
      return;
    }
    if (this.#running >= this.#settings.max_connections) {
      this.#refuse(exchange, 503, "Too many connections");
      return;
    }
    const settings = this.#settings;
    const declared = declaredLength(exchange.headers["content-length"]);
    if (declared === "invalid") {
      this.#refuse(exchange, 400, "Content-Length is not one decimal length", CLOSE_CONNECTION);
      return;
    }
    const reserved = bodyReservation(exchange.headers, declared, settings.package_max_length);
    const fd = this.#nextFd++;
    this.#running++;
    // Without a body (every WebSocket), the handler starts at once, with no async frames of
    // ours around it to keep alive for the connection's life.
    const running = reserved === 0
      ? this.#start(handler, exchange, context, fd, NO_BODY)
      : this.#readThenStart(handler, exchange, context, fd, reserved);
    if (!running) {
      this.#running--;
      return;
    }
    running.then(this.#ended, this.#failed);
  }

  // Shared by every request, where a closure per request would be kept for its whole life.
  readonly #ended = (): void => {
    if (--this.#running === 0) this.#allEnded?.();
  };

  readonly #failed = (error: unknown): void => {
    this.#ended();
    this.#observer.error(`a request failed: ${describeError(error)}`);
  };

  #whenAllEnded(): Promise<void> {
    if (this.#running === 0) return Promise.resolve();
    return new Promise((resolve) => this.#allEnded = resolve);
  }

  /** Reads the body within its limits, then starts the handler; answers itself if it cannot. */
  async #readThenStart(
    handler: Handler,
    exchange: HttpExchange,
    context: ResponseContext,
    fd: number,
    reserved: number,
  ): Promise<void> {
    const settings = this.#settings;
    if (this.#bodyBytes + reserved > settings.http_body_memory_limit) {
      // Throws the body away as it comes; a client that leaves meanwhile fails the read, which
      // nothing waits on (unhandled, it ended the process on Deno).
      exchange.readBody(0, this.#stopping.signal).catch(() => {});
      this.#refuse(exchange, 503, "Too many request bodies at once: try again later");
      return;
    }
    this.#bodyBytes += reserved;
    // One timer per read, cleared as soon as the body is in: AbortSignal.timeout() would keep
    // one alive per request for the whole timeout.
    const stop = new AbortController();
    const abort = () => stop.abort();
    const timeout = settings.http_body_timeout * 1000;
    const timer = timeout > 0 ? setTimeout(abort, timeout) : undefined;
    const stopping = this.#stopping.signal;
    if (stopping.aborted) abort();
    else stopping.addEventListener("abort", abort);
    try {
      let body: BodyResult;
      try {
        body = await exchange.readBody(settings.package_max_length, stop.signal);
      } catch {
        // The client left halfway or broke the chunked framing. Answering is what ends the
        // exchange (Deno holds the socket until it is answered); a client still there reads
        // why.
        this.#refuse(exchange, 400, "Request body malformed or cut short", CLOSE_CONNECTION);
        return;
      } finally {
        clearTimeout(timer);
        stopping.removeEventListener("abort", abort);
      }
      if (body === "too large") {
        // The adapter throws the rest of the body away: closing the connection while the client
        // still sends would make the kernel reset it and lose this answer.
        this.#refuse(exchange, 413, "Request body larger than package_max_length");
        return;
      }
      if (body === "stopped") {
        const [status, text] = this.#shutdown
          ? [503, "Server shutting down"]
          : [408, "Request body not received within http_body_timeout"];
        this.#refuse(exchange, status, text, CLOSE_CONNECTION);
        return;
      }
      await this.#start(handler, exchange, context, fd, body);
    } finally {
      this.#bodyBytes -= reserved;
    }
  }

  /** Answers a request the server turns away itself, and says so where it is a limit. */
  #refuse(
    exchange: HttpExchange,
    status: number,
    text: string,
    headers: [string, string][] = [],
  ): void {
    const body = encoder.encode(`${text}\n`);
    exchange.respond(
      { status, reason: "", headers: [["Content-Type", "text/plain"], ...headers] },
      body,
    );
    const path = targetPath(exchange.target);
    const observer = this.#observer;
    observer.responded(exchange.method, path, status, body.byteLength, now());
    if (LIMIT_STATUSES.has(status)) {
      observer.warn(
        `${status} for ${escapeForLog(exchange.method)} ${escapeForLog(path)}: ${text}`,
      );
    }
  }

  /** Makes the request and response and runs the handler; undefined when it answered itself. */
  #start(
    handler: Handler,
    exchange: HttpExchange,
    context: ResponseContext,
    fd: number,
    body: Uint8Array,
  ): Promise<void> | undefined {
    let request: Request;
    try {
      request = new Request(exchange, fd, body, this.#settings);
    } catch (error) {
      if (error instanceof MalformedBodyError) {
        this.#refuse(exchange, 400, `Malformed request: ${error.message}`);
      } else {
        this.#observer.error(`cannot read a request: ${describeError(error)}`);
        this.#refuse(exchange, 500, "Internal Server Error");
      }
      return undefined;
    }
    return runHandler(
      handler,
      request,
      new Response(exchange, fd, context),
      this.#observer,
    );
  }
}

/** Runs a handler to its end, then completes its response (see `finishResponse`). */
async function runHandler(
  handler: Handler,
  request: Request,
  response: Response,
  observer: Observer,
): Promise<void> {
  let failed = false;
  try {
    await handler(request, response);
  } catch (error) {
    failed = true;
    observer.handlerErrors++;
    observer.error(
      `the handler for ${escapeForLog(request.server.request_method)} ` +
        `${escapeForLog(request.server.path_info)} ` +
        `(fd ${request.fd}) threw: ${describeError(error)}`,
    );
  }
  try {
    finishResponse(response, failed);
  } catch (error) {
    // Even the plain 500 was refused: the connection cannot be answered.
    observer.error(
      `cannot answer ${escapeForLog(request.server.path_info)} (fd ${request.fd}): ` +
        describeError(error),
    );
  }
}

/** An error with its stack where it has one: what a log needs to find the fault. */
function describeError(error: unknown): string {
  return error instanceof Error ? error.stack ?? `${error.name}: ${error.message}` : String(error);
}

/** A status that means a limit was hit or the server is stopping: worth a warning. */
const LIMIT_STATUSES = new Set([408, 413, 431, 503]);
const SHUTDOWN_SIGNALS = ["SIGINT", "SIGTERM"] as const;
const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 };

/** The size of a request's head as sent: request line, headers, and their line ends. */
function headSize(exchange: HttpExchange): number {
  let size = exchange.method.length + exchange.target.length + 12;
  for (const name in exchange.headers) size += name.length + exchange.headers[name].length + 4;
  return size;
}

/**
 * The bytes a request's body may take while it is read and handled: its declared length, or
 * the most a body may have when it is chunked; 0 without a body.
 */
function bodyReservation(
  headers: Record<string, string>,
  declared: number | undefined,
  limit: number,
): number {
  if (declared !== undefined) return Math.min(declared, limit);
  return headers["transfer-encoding"] === undefined ? 0 : limit;
}

/** Answers to an upgrade request on a socket node:http left to us. */
const NOT_FOUND_HEAD = "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
const UNAVAILABLE_HEAD =
  "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/** Asks the runtime to close the connection after the answer. */
const CLOSE_CONNECTION: [string, string][] = [["Connection", "close"]];

/** The payload to fan out: `data` as `opcode` says, encoded once for every connection. */
function brokerMessage(
  method: string,
  topic: string | null,
  data: FrameData,
  opcode: Opcode | undefined,
  flags: number,
): BrokerMessage {
  if (opcode !== undefined && opcode !== OPCODE.TEXT && opcode !== OPCODE.BINARY) {
    throw new RangeError(
      `Cannot ${method} with opcode ${opcode}: use OPCODE.TEXT or OPCODE.BINARY`,
    );
  }
  const compress = (pushFlags(method, flags) & FLAG.COMPRESS) !== 0;
  const payload = opcode === undefined ? data : asPayload(data, opcode === OPCODE.TEXT);
  return compress ? { topic, data: payload, compress } : { topic, data: payload };
}

/** The certificate and key for TLS, read from the files the settings name. */
function readTlsFiles(settings: ResolvedSettings): { cert: string; key: string } {
  const { ssl_cert_file: certFile, ssl_key_file: keyFile } = settings;
  if (!certFile || !keyFile) {
    throw new Error("Cannot start with ssl: set ssl_cert_file and ssl_key_file");
  }
  return { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
}

/**
 * One message for a port in use on every runtime (each words it differently, and Deno's does
 * not name the address); other errors as they are.
 */
function listenError(error: unknown, host: string, port: number): unknown {
  if ((error as { code?: unknown } | undefined)?.code !== "EADDRINUSE") return error;
  const address = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  return new Error(`Cannot listen on ${address}: address already in use`, { cause: error });
}

/** Waits for `promise`, at most `ms` milliseconds. */
function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, ms));
  return Promise.race([promise.then(() => {}, () => {}), timeout]).finally(() =>
    clearTimeout(timer)
  );
}
