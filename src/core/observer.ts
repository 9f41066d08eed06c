/**
 * What a server has to say and to count: its logger ({@link Server.useLogger}), its access log
 * (the `access_log` setting) and its metrics ({@link Server.metrics},
 * {@link Server.metricsText}). One place, so every failure is reported once and the same way.
 *
 * @module
 */

/**
 * Where the server's messages go: `console` by default; pino, winston and Deno's std/log
 * loggers fit as they are. Errors are failures someone must fix, warnings are limits that were
 * hit, info is the access log. Messages never hold cookies, credentials or query strings.
 *
 * @example Collect the messages
 * ```ts
 * import { type Logger, Server } from "../../mod.ts";
 * const lines: string[] = [];
 * const logger: Logger = {
 *   error: (message) => lines.push(`error ${message}`),
 *   warn: (message) => lines.push(`warn ${message}`),
 *   info: (message) => lines.push(`info ${message}`),
 * };
 * new Server("127.0.0.1", 0).useLogger(logger);
 * ```
 */
export interface Logger {
  /** A failure someone must fix: a handler threw or forgot to answer, the broker is down. */
  error(message: string): void;
  /** A limit was hit (408, 413, 431, 503, 1009) or slow consumers were skipped. */
  warn(message: string): void;
  /** An access-log line (the `access_log` setting). */
  info(message: string): void;
}

/**
 * An HTTP status class, as {@link ServerMetrics.http_responses_total} counts them.
 *
 * @example
 * ```ts
 * import type { StatusClass } from "../../mod.ts";
 * const errors: StatusClass = "5xx";
 * ```
 */
export type StatusClass = "1xx" | "2xx" | "3xx" | "4xx" | "5xx";

/**
 * The server's counters (totals since it started) and gauges (values now), as
 * {@link Server.metrics} returns them; {@link Server.metricsText} has the same in Prometheus's
 * text format, each name prefixed `coro_ws_`. WebSocket byte counts are payload sizes before
 * compression, text in UTF-8 bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ServerMetrics, Server } from "../../mod.ts";
 * const metrics: ServerMetrics = new Server("127.0.0.1", 0).metrics();
 * assert.equal(metrics.websockets_open, 0);
 * ```
 */
export interface ServerMetrics {
  /** Gauge: WebSockets open. */
  websockets_open: number;
  /** Gauge: handlers running, WebSockets included. */
  handlers_running: number;
  /** HTTP responses by status class; "1xx" counts WebSocket upgrades (101). */
  http_responses_total: Record<StatusClass, number>;
  /** WebSocket data messages received (control frames not counted). */
  websocket_messages_received_total: number;
  /** WebSocket data messages sent (a fragmented one once). */
  websocket_messages_sent_total: number;
  /** WebSocket payload bytes received. */
  websocket_bytes_received_total: number;
  /** WebSocket payload bytes sent. */
  websocket_bytes_sent_total: number;
  /** WebSocket closes by code: the peer's Close, the server's, or 1006 when dropped without one. */
  websocket_closes_total: Record<string, number>;
  /** Handlers that threw. */
  handler_errors_total: number;
  /** Messages that `publish()` and `broadcast()` skipped: slow or closing connections. */
  publish_skipped_total: number;
  /** Gauge: 1 while the broker is connected, 0 during an outage; absent without a broker. */
  broker_up?: number;
}

/** One WebSocket's traffic, kept for its access-log line only. */
export interface Traffic {
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
}

/**
 * What a log line must not hold raw: `\` and `"` (so an escaped value between quotes reads back
 * with `JSON.parse`), C0 and C1 controls and DEL (a newline forges a line, ESC rewrites a
 * terminal), U+2028 and U+2029 (lines to some viewers), bidirectional marks and overrides (text
 * that reads otherwise than it is), and lone surrogates.
 */
const UNSAFE_IN_LOGS =
  // deno-lint-ignore no-control-regex -- Control characters are what it finds.
  /[\\"\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const SHORT_ESCAPES: Record<string, string> = {
  "\\": "\\\\",
  '"': '\\"',
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\b": "\\b",
  "\f": "\\f",
};

/**
 * `value` fit for a log line, for every value from the network that reaches one (paths, topics,
 * a peer's error text): what could end the line or disguise it written as a JSON escape, the rest
 * as it is. Between double quotes the result is a JSON string of `value`.
 *
 * @param value a string from a request, a message or a remote server
 * @returns `value` with `\`, `"`, control and line-breaking characters escaped
 *
 * @example A query that would forge a line
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeForLog } from "./observer.ts";
 * const room = "lobby\ncoro-ws: forged";
 * assert.equal(`topic "${escapeForLog(room)}"`, String.raw`topic "lobby\ncoro-ws: forged"`);
 * ```
 */
export function escapeForLog(value: string): string {
  return value.replace(
    UNSAFE_IN_LOGS,
    (char) => SHORT_ESCAPES[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** How often a warning that could repeat with every message is given, at most. */
const REPEAT_WARNING_MS = 10_000;

/** The server's logger, access log and counters. */
export class Observer {
  logger: Logger = console;
  accessLog = false;
  readonly responses: Record<StatusClass, number> = {
    "1xx": 0,
    "2xx": 0,
    "3xx": 0,
    "4xx": 0,
    "5xx": 0,
  };
  messagesIn = 0;
  messagesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  readonly closes: Map<number, number> = new Map();
  handlerErrors = 0;
  skipped = 0;
  #skippedUnreported = 0;
  #lastSkipWarning = -Infinity;

  /** Counts a data message of `bytes` received, in the totals and in `traffic`. */
  received(bytes: number, traffic: Traffic | undefined): void {
    this.messagesIn++;
    this.bytesIn += bytes;
    if (traffic) {
      traffic.messagesIn++;
      traffic.bytesIn += bytes;
    }
  }

  /** Counts a frame of `bytes` sent, and a message when it is the last (`fin`). */
  sent(bytes: number, fin: boolean, traffic: Traffic | undefined): void {
    if (fin) this.messagesOut++;
    this.bytesOut += bytes;
    if (traffic) {
      if (fin) traffic.messagesOut++;
      traffic.bytesOut += bytes;
    }
  }

  error(message: string): void {
    this.logger.error(`coro-ws: ${message}`);
  }

  warn(message: string): void {
    this.logger.warn(`coro-ws: ${message}`);
  }

  /** Counts an HTTP answer and writes its access-log line. `started` is from `now()`. */
  responded(method: string, path: string, status: number, bytes: number, started: number): void {
    const statusClass = `${Math.min(5, Math.max(1, Math.floor(status / 100)))}xx` as StatusClass;
    this.responses[statusClass]++;
    if (this.accessLog && status !== 101) {
      this.logger.info(
        `${escapeForLog(method)} ${escapeForLog(path)} ${status} ${bytes} B ${elapsed(started)}`,
      );
    }
  }

  /** Counts a WebSocket close and writes its access-log line. */
  websocketClosed(
    path: string,
    code: number,
    byPeer: boolean,
    started: number,
    traffic: Traffic | undefined,
  ): void {
    this.closes.set(code, (this.closes.get(code) ?? 0) + 1);
    const shownPath = escapeForLog(path);
    if (code === 1009) {
      this.warn(`WebSocket ${shownPath} closed with 1009: a message over package_max_length`);
    }
    if (this.accessLog && traffic) {
      this.logger.info(
        `WS ${shownPath} ${code} closed by ${byPeer ? "client" : "server"} after ${
          elapsed(started)
        }, ` +
          `in ${traffic.messagesIn} messages ${traffic.bytesIn} B, ` +
          `out ${traffic.messagesOut} messages ${traffic.bytesOut} B`,
      );
    }
  }

  /** Counts messages a fan-out skipped; warns at most every 10 s, with the count since. */
  skippedMessages(count: number): void {
    this.skipped += count;
    this.#skippedUnreported += count;
    const now = Date.now();
    if (now - this.#lastSkipWarning < REPEAT_WARNING_MS) return;
    this.#lastSkipWarning = now;
    this.warn(
      `publish() or broadcast() skipped ${this.#skippedUnreported} message(s) for slow or ` +
        "closing connections (websocket_write_limit reached)",
    );
    this.#skippedUnreported = 0;
  }
}

/** A start time for {@link Observer.responded} and {@link Observer.websocketClosed}. */
export function now(): number {
  return performance.now();
}

function elapsed(started: number): string {
  const ms = performance.now() - started;
  return ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Prometheus's text exposition format (version 0.0.4) of `metrics`. */
export function prometheusText(metrics: ServerMetrics): string {
  const lines: string[] = [];
  const family = (
    name: string,
    type: "counter" | "gauge",
    help: string,
    samples: [labels: string, value: number][],
  ) => {
    lines.push(`# HELP coro_ws_${name} ${help}`, `# TYPE coro_ws_${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`coro_ws_${name}${labels} ${value}`);
  };
  family("websockets_open", "gauge", "WebSockets open.", [["", metrics.websockets_open]]);
  family("handlers_running", "gauge", "Handlers running, WebSockets included.", [[
    "",
    metrics.handlers_running,
  ]]);
  family(
    "http_responses_total",
    "counter",
    "HTTP responses by status class (1xx: WebSocket upgrades).",
    Object.entries(metrics.http_responses_total).map(([k, v]) => [`{class="${k}"}`, v]),
  );
  for (const [direction, past] of [["received", "received"], ["sent", "sent"]] as const) {
    family(
      `websocket_messages_${direction}_total`,
      "counter",
      `WebSocket messages ${past}.`,
      [["", metrics[`websocket_messages_${direction}_total`]]],
    );
    family(
      `websocket_bytes_${direction}_total`,
      "counter",
      `WebSocket payload bytes ${past} (text as UTF-8).`,
      [["", metrics[`websocket_bytes_${direction}_total`]]],
    );
  }
  family(
    "websocket_closes_total",
    "counter",
    "WebSocket closes by close code (1006: dropped without a Close frame).",
    Object.entries(metrics.websocket_closes_total).map(([k, v]) => [`{code="${k}"}`, v]),
  );
  family("handler_errors_total", "counter", "Handlers that threw.", [[
    "",
    metrics.handler_errors_total,
  ]]);
  family(
    "publish_skipped_total",
    "counter",
    "Messages publish() and broadcast() skipped for slow or closing connections.",
    [["", metrics.publish_skipped_total]],
  );
  if (metrics.broker_up !== undefined) {
    family("broker_up", "gauge", "1 while the pub/sub broker is connected.", [[
      "",
      metrics.broker_up,
    ]]);
  }
  return lines.join("\n") + "\n";
}
