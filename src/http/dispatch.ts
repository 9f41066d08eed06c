/**
 * From an adapter's exchange to a running handler: the limits a request must pass (head size,
 * routes, `max_connections`, its declared length), its body read within `package_max_length`,
 * `http_body_timeout` and `http_body_memory_limit`, the handler run to its end, and the answer
 * the server gives itself when any of that fails.
 *
 * @module
 */

import { declaredLength } from "../adapters/body.ts";
import type { BodyResult, HttpExchange } from "./exchange.ts";
import { escapeForLog, now, type Observer } from "../core/observer.ts";
import type { ResolvedSettings } from "../core/settings.ts";
import { MalformedBodyError } from "./multipart.ts";
import { Request, targetPath } from "./request.ts";
import { finishResponse, Response, type ResponseContext } from "./response.ts";

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

/** What the dispatcher reads from its server. */
export interface DispatchHost {
  /** The settings now (they may change until the server starts). */
  settings(): ResolvedSettings;
  /** Whether shutdown() was called: new requests get 503. */
  shuttingDown(): boolean;
  /** The handler for a path, if a route matches. */
  route(path: string): Handler | undefined;
}

const encoder = new TextEncoder();
const NO_BODY = new Uint8Array(0);
/** A status that means a limit was hit or the server is stopping: worth a warning. */
const LIMIT_STATUSES = new Set([408, 413, 431, 503]);
/** Asks the runtime to close the connection after the answer. */
export const CLOSE_CONNECTION: [string, string][] = [["Connection", "close"]];

/** Runs the requests of one server, and counts them. */
export class Dispatcher {
  readonly #host: DispatchHost;
  readonly #observer: Observer;
  #nextFd = 1;
  /**
   * Handlers running: counted before a handler starts, so one that reports stats counts itself.
   * A count, not a set of their promises: a set would cost every connection an entry.
   */
  #running = 0;
  /** Set while whenAllEnded() waits for the running handlers to end. */
  #allEnded: (() => void) | undefined;
  /** Bytes reserved for request bodies being read or handled; see `http_body_memory_limit`. */
  #bodyBytes = 0;
  /** Aborts when shutdown starts: request bodies still arriving are not waited for. */
  readonly #stopping = new AbortController();

  constructor(host: DispatchHost, observer: Observer) {
    this.#host = host;
    this.#observer = observer;
  }

  /** How many handlers are running. */
  get running(): number {
    return this.#running;
  }

  /** Stops waiting for request bodies still arriving: their requests get 503. */
  stop(): void {
    this.#stopping.abort();
  }

  /** Takes one exchange from the adapter to its handler, or answers it itself. */
  serve(exchange: HttpExchange, context: ResponseContext): void {
    // Node refuses a larger head itself, Bun one past 16 KiB; Deno takes up to 64 KiB.
    if (headSize(exchange) > this.#host.settings().http_max_header_size) {
      this.refuse(
        exchange,
        431,
        "Request head larger than http_max_header_size",
        CLOSE_CONNECTION,
      );
      return;
    }
    const path = targetPath(exchange.target);
    const stopping = this.#host.shuttingDown();
    const handler = stopping ? undefined : this.#host.route(path);
    if (!handler) {
      this.refuse(
        exchange,
        stopping ? 503 : 404,
        stopping ? "Server shutting down" : "Not Found",
      );
      return;
    }
    if (this.#running >= this.#host.settings().max_connections) {
      this.refuse(exchange, 503, "Too many connections");
      return;
    }
    const settings = this.#host.settings();
    const declared = declaredLength(exchange.headers["content-length"]);
    if (declared === "invalid") {
      this.refuse(exchange, 400, "Content-Length is not one decimal length", CLOSE_CONNECTION);
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

  /** Resolves once no handler is running. */
  whenAllEnded(): Promise<void> {
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
    const settings = this.#host.settings();
    if (this.#bodyBytes + reserved > settings.http_body_memory_limit) {
      // Throws the body away as it comes; a client that leaves meanwhile fails the read, which
      // nothing waits on (unhandled, it ended the process on Deno).
      exchange.readBody(0, this.#stopping.signal).catch(() => {});
      this.refuse(exchange, 503, "Too many request bodies at once: try again later");
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
        this.refuse(exchange, 400, "Request body malformed or cut short", CLOSE_CONNECTION);
        return;
      } finally {
        clearTimeout(timer);
        stopping.removeEventListener("abort", abort);
      }
      if (body === "too large") {
        // The adapter throws the rest of the body away: closing the connection while the client
        // still sends would make the kernel reset it and lose this answer.
        this.refuse(exchange, 413, "Request body larger than package_max_length");
        return;
      }
      if (body === "stopped") {
        const [status, text] = this.#host.shuttingDown()
          ? [503, "Server shutting down"]
          : [408, "Request body not received within http_body_timeout"];
        this.refuse(exchange, status, text, CLOSE_CONNECTION);
        return;
      }
      await this.#start(handler, exchange, context, fd, body);
    } finally {
      this.#bodyBytes -= reserved;
    }
  }

  /** Answers a request the server turns away itself, and says so where it is a limit. */
  refuse(
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
      request = new Request(exchange, fd, body, this.#host.settings());
    } catch (error) {
      if (error instanceof MalformedBodyError) {
        this.refuse(exchange, 400, `Malformed request: ${error.message}`);
      } else {
        this.#observer.error(`cannot read a request: ${describeError(error)}`);
        this.refuse(exchange, 500, "Internal Server Error");
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
export function describeError(error: unknown): string {
  return error instanceof Error ? error.stack ?? `${error.name}: ${error.message}` : String(error);
}

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
