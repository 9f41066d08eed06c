/**
 * What the Bun and Deno adapters share: both speak web-standard `Request` and `Response`.
 *
 * @module
 */

import type { BodyResult, BodyWriter, HttpExchange, ResponseHead } from "./types.ts";
import { BodyCollector, declaredLength } from "./body.ts";
import { recordFrom } from "../core/record.ts";

/** Where a request came from and in on, as the host runtime reports it. */
export interface Peer {
  remoteAddress: string;
  remotePort: number;
  localPort: number;
}

/**
 * The exchange for a web-standard `Request` answered with a `Response` through `respond`:
 * everything but the upgrade, which each runtime does its own way.
 */
export function webExchange(
  request: Request,
  peer: Peer,
  respond: (response: Response) => void,
  upgrade: HttpExchange["upgrade"],
): HttpExchange {
  const headers = recordFrom(request.headers);
  return {
    method: request.method,
    target: requestTarget(request.url, headers.host),
    headers,
    remoteAddress: peer.remoteAddress,
    remotePort: peer.remotePort,
    localPort: peer.localPort,
    secure: request.url.startsWith("https:"),
    readBody: (limit, stop) => readBodyWithin(request, limit, stop),
    respond: (head, body) => respond(webResponse(head, body)),
    stream: (head) => webStreamWriter((body) => respond(webResponse(head, body))),
    upgrade,
  };
}

/** The port in a request's URL, or the scheme's default: for hosts that do not say. */
export function urlPort(url: string): number {
  const { port, protocol } = new URL(url);
  return Number(port) || (protocol === "https:" ? 443 : 80);
}

/** Bytes are never backed by a SharedArrayBuffer here, which is all the DOM type rules out. */
type ResponseBody = ConstructorParameters<typeof Response>[0];

/** A web `Response` with `head`'s status and headers. */
export function webResponse(
  head: ResponseHead,
  body: Uint8Array | ReadableStream<Uint8Array>,
): Response {
  // An empty body as null: a status that forbids a body (204, 304) refuses even an empty one.
  const content = body instanceof Uint8Array && body.byteLength === 0 ? null : body;
  return new Response(content as ResponseBody, {
    status: head.status,
    statusText: head.reason,
    headers: head.headers,
  });
}

/**
 * The request target (path and query) as the client sent it. The runtime builds `request.url`
 * from the Host header, which is the client's to choose: Deno puts it in as it came, "/" and
 * "?" included, and Bun leaves the scheme and host out when it cannot parse it. So the Host
 * header is skipped exactly where it stands, never searched past.
 */
export function requestTarget(url: string, host: string | undefined): string {
  if (url.startsWith("/")) return url;
  const authorityAt = url.indexOf("//") + 2;
  const afterHost = host && url.startsWith(host, authorityAt) ? authorityAt + host.length : -1;
  // Otherwise the runtime rewrote the host, or took it from an absolute-form target: either
  // way a valid one, with no "/" in it.
  const pathAt = url[afterHost] === "/" ? afterHost : url.indexOf("/", authorityAt);
  return pathAt < 0 ? "/" : url.slice(pathAt);
}

const NO_BODY = Promise.resolve(new Uint8Array(0));

/**
 * The body of `request`, or undefined as soon as it proves larger than `limit` bytes: the
 * declared Content-Length is checked first, and a stream that grows past the limit is
 * cancelled, so the rest is never read into memory.
 */
export function readBodyWithin(
  request: Request,
  limit: number,
  stop: AbortSignal,
): Promise<BodyResult> {
  if (!request.body) return NO_BODY;
  // The core refused an invalid length before asking for the body.
  const declared = declaredLength(request.headers.get("content-length") ?? undefined);
  if (typeof declared === "number" && declared > limit) {
    void discard(request.body.getReader());
    return Promise.resolve("too large");
  }
  const body = new BodyCollector(typeof declared === "number" ? declared : undefined);
  return readStream(request.body, body, limit, stop);
}

/** How long a refused body is still read and thrown away, so the 413 reaches the client. */
const DISCARD_MS = 2000;

/**
 * Reads and drops the rest of a refused body for a while before cancelling it: closing a
 * connection with unread data makes the kernel reset it, losing the 413 on its way out. The
 * cancel is timed, not checked between reads, so a client that stops sending is not read from
 * past the bound either. (Deno keeps such a connection open all the same: a cancel does not
 * end a read in progress; docs/reference/runtimes.md, row 24.)
 */
async function discard(
  reader: { read(): Promise<{ done: boolean }>; cancel(): Promise<void> },
): Promise<void> {
  const cancel = setTimeout(() => void reader.cancel().catch(() => {}), DISCARD_MS);
  try {
    while (!(await reader.read()).done); // A cancel ends the pending read with done.
  } catch {
    // The client went away.
  } finally {
    clearTimeout(cancel);
  }
}

async function readStream(
  stream: ReadableStream<Uint8Array>,
  body: BodyCollector,
  limit: number,
  stop: AbortSignal,
): Promise<BodyResult> {
  const reader = stream.getReader();
  type Next = Awaited<ReturnType<typeof reader.read>> | "stopped";
  let settle: ((next: Next) => void) | undefined;
  const onStop = () => settle?.("stopped");
  stop.addEventListener("abort", onStop);
  try {
    for (;;) {
      const next = stop.aborted ? "stopped" : await new Promise<Next>((resolve, reject) => {
        settle = resolve;
        reader.read().then(resolve, reject);
      });
      if (next === "stopped") {
        // Cancelled after the server has answered, not before: Deno closes the connection then,
        // but keeps reading a body cancelled before its answer for as long as the client sends.
        setTimeout(() => void reader.cancel().catch(() => {}), 0);
        return "stopped";
      }
      if (next.done) return body.bytes();
      if (body.size + next.value.byteLength > limit) {
        void discard(reader);
        return "too large";
      }
      body.add(next.value);
    }
  } finally {
    stop.removeEventListener("abort", onStop);
  }
}

/**
 * A {@link BodyWriter} over a web `ReadableStream` that `send` answers the request with:
 * `write()` waits while the stream's queue is full (the client reads slowly) and gives false
 * once the client has gone (the runtime cancels the stream).
 */
export function webStreamWriter(send: (body: ReadableStream<Uint8Array>) => void): BodyWriter {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let gone = false;
  let wake: (() => void) | undefined;
  const body = new ReadableStream<Uint8Array>({
    start: (c) => controller = c,
    pull: () => wake?.(),
    cancel: () => {
      gone = true;
      wake?.();
    },
  }, { highWaterMark: 64 * 1024, size: (chunk) => chunk?.byteLength ?? 0 });
  send(body);
  return {
    async write(chunk) {
      if (gone) return false;
      controller.enqueue(chunk);
      while (!gone && (controller.desiredSize ?? 0) <= 0) {
        await new Promise<void>((resolve) => wake = resolve);
        wake = undefined;
      }
      return !gone;
    },
    end() {
      if (!gone) controller.close();
    },
  };
}
