/**
 * The server: settings, routes, listening or mounting into a host, and shutdown, shared by
 * every runtime. Requests go through dispatch.ts, the fan-out through topics.ts.
 *
 * Why this file is long: `Server` is the public API, and its methods' JSDoc (with an example
 * each, for every host it mounts into) is half of it; the logic under them lives in the
 * modules it imports.
 *
 * @module
 */

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
import type { Listener, Mount, RuntimeCapabilities } from "../adapters/types.ts";
import { declaredLength } from "../adapters/body.ts";
import type { PubSubBroker } from "../pubsub/broker.ts";
import { CLOSE, type Opcode } from "../core/constants.ts";
import { LifecycleError } from "../core/errors.ts";
import type { WebSocketConnection } from "../core/connection.ts";
import { connectionContext } from "../core/context.ts";
import type { FrameData } from "../core/frame.ts";
import { Dispatcher, type Handler } from "./dispatch.ts";
import { targetPath } from "./request.ts";
import type { Response, ResponseContext } from "./response.ts";
import { Topics } from "./topics.ts";
import { Router } from "./router.ts";
import process from "node:process";
// Node's timers on every runtime: the exit bound must not keep the process alive (unref).
import { setTimeout as setUnrefableTimeout } from "node:timers";
import {
  escapeForLog,
  type Logger,
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
  readonly #observer = new Observer();
  readonly #dispatcher = new Dispatcher({
    settings: () => this.#settings,
    shuttingDown: () => this.#shutdown !== undefined,
    route: (path) => this.#router.match(path),
  }, this.#observer);
  readonly #connections = new Set<WebSocketConnection>();
  /** Upgraded connections that are open: what {@link Server.connections} shows. */
  readonly #topics = new Topics(this.#observer);
  #broker: PubSubBroker | undefined;
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
    const up = this.#topics.brokerUp;
    return {
      websockets_open: this.#topics.open.size,
      handlers_running: this.#dispatcher.running,
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
          onRequest: (exchange) => this.#dispatcher.serve(exchange, context),
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
    return this.#topics.open;
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
    return this.#topics.publish("publish()", topic, data, opcode, flags);
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
    return this.#topics.publish("broadcast()", null, data, opcode, flags);
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
    return { connection_num: this.#connections.size, coroutine_num: this.#dispatcher.running };
  }

  /** Connects the broker, once, for either mode. */
  #prepare(): Promise<void> {
    this.#prepared ??= (async () => {
      const observer = this.#observer;
      observer.accessLog = this.#settings.access_log;
      await this.#topics.join(this.#broker);
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
        if (open) this.#topics.open.add(response);
        else this.#topics.open.delete(response);
      },
      subscribe: (response, topic, subscribed) =>
        this.#topics.subscribe(response, topic, subscribed),
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
        onRequest: (exchange) => this.#dispatcher.serve(exchange, context),
      });
    } catch (caught) {
      const error = listenError(caught, this.host, this.port);
      await this.#topics.leave();
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
    this.#dispatcher.stop(); // The requests whose bodies are still arriving get 503.
    // Mounted, the host's listener is the host's to close.
    const listenerClosed = this.#listener?.close() ?? Promise.resolve();
    const closing = [...this.#connections];
    for (const connection of closing) {
      void connection.disconnect(CLOSE.GOING_AWAY, "Server shutting down");
    }
    const deadline = this.#settings.max_wait_time * 1000;
    await settleWithin(this.#dispatcher.whenAllEnded(), deadline);
    // A handler can end before its Close went out; a process that exits after shutdown() must
    // not cut it off (a runtime may write it later, and a mounted server has no listener to
    // wait on).
    await settleWithin(
      Promise.all(closing.map((connection) => connection.whenReleased())),
      deadline,
    );
    for (const connection of this.#connections) connection.close();
    await this.#topics.leave();
    await settleWithin(listenerClosed, deadline);
    this.#resolveStopped();
  }
}

const SHUTDOWN_SIGNALS = ["SIGINT", "SIGTERM"] as const;
const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 };

/** Answers to an upgrade request on a socket node:http left to us. */
const NOT_FOUND_HEAD = "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
const UNAVAILABLE_HEAD =
  "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

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
