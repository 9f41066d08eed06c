/**
 * What the single-Redis broker (`redis.ts`) and the Redis Cluster broker (`redis_cluster.ts`)
 * share: the wire format of a message, channel names, timings and their checks, the bound on
 * publishes in flight, and the throttled failure reports. Internal: not an entry point.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { escapeForLog } from "../core/observer.ts";
import type { BrokerMessage } from "./broker.ts";

/** Bytes of the random id each server puts on its messages, to skip them on the way back. */
const ORIGIN_LENGTH = 16;
/**
 * A message on the wire: its kind (text or binary, and whether it asks for compression), the
 * origin id, then the payload.
 */
const HEADER_LENGTH = 1 + ORIGIN_LENGTH;
const TEXT = 0;
const BINARY = 1;
const COMPRESS = 2;
/** Publishes waiting for Redis's reply before further ones are dropped: bounded memory. */
export const MAX_PENDING_PUBLISHES = 10_000;
/**
 * Bytes of publishes waiting for Redis's reply before further ones are dropped: the count alone
 * let 10,000 large messages (64 KiB each: 640 MB) pile up. 32 MiB rides out a second of Redis
 * being slow at 30 MB/s of publishes and is small next to a server's memory. One message larger
 * than this still goes when nothing else waits.
 */
const MAX_PENDING_BYTES = 32 * 1024 * 1024;
/** At most one report of each kind of failure in this time, so a burst does not flood the log. */
const DROP_REPORT_INTERVAL_MS = 1_000;
/** The longest timing an option may ask for: `setTimeout` fires at once beyond it. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How long `close()` waits for publishes in flight before it drops the connections. */
export const CLOSE_TIMEOUT_MS = 1_000;

const decoder = new TextDecoder();

/**
 * How long a Redis broker waits for what, in ms; every field is optional and has a default.
 *
 * @example
 * ```ts
 * import type { RedisTimingOptions } from "./redis.ts";
 * const quick: RedisTimingOptions = { pingIntervalMs: 100, pingTimeoutMs: 500 };
 * ```
 */
export interface RedisTimingOptions {
  /**
   * How long connecting may take, handshake and first subscription included, in ms: an endpoint
   * that accepts TCP but never speaks Redis (a wrong port, a stuck proxy) would hold `start()`
   * forever. Default 5000.
   */
  connectTimeoutMs?: number;
  /** How often each Redis connection is sent a PING, in ms; default 1000. */
  pingIntervalMs?: number;
  /**
   * A connection whose PING has no answer after this long, in ms, is dead (a stalled network, a
   * frozen Redis, a corrupt reply): it is reported as an outage and replaced, even while bytes
   * still arrive on it. A Redis slower than this to answer counts as down. Default 5000.
   */
  pingTimeoutMs?: number;
  /** The first delay before reconnecting, in ms; it doubles with each failed attempt. Default 100. */
  reconnectDelayMs?: number;
  /** The longest delay between reconnect attempts, in ms; default 3000. */
  maxReconnectDelayMs?: number;
}

/** The broker's timings, in ms, each from its option in {@link RedisTimingOptions}. */
export type Timings = Required<RedisTimingOptions>;

/** What each timing is when its option is left out. */
const DEFAULT_TIMINGS: Timings = {
  connectTimeoutMs: 5_000,
  // Without PINGs an idle subscriber never noticed a stall and silently lost its topics; with a
  // PING each second, 5 s without a PONG is no hiccup.
  pingIntervalMs: 1_000,
  pingTimeoutMs: 5_000,
  reconnectDelayMs: 100,
  maxReconnectDelayMs: 3_000,
};

/**
 * The timings `options` asks for, each checked, the defaults for the others; `who` names the
 * constructor in error messages.
 *
 * @throws {TypeError} for a timing that is not a number
 * @throws {RangeError} for one out of range
 */
function timings(options: RedisTimingOptions, who: string): Timings {
  const chosen = { ...DEFAULT_TIMINGS };
  for (const name of Object.keys(DEFAULT_TIMINGS) as (keyof Timings)[]) {
    const value: unknown = options[name];
    if (value === undefined) continue;
    if (typeof value !== "number") {
      throw new TypeError(
        `new ${who}(): "${name}" must be a number of milliseconds, got ${
          typeof value === "string" ? JSON.stringify(value) : typeof value
        }`,
      );
    }
    if (!Number.isInteger(value) || value < 1 || value > MAX_TIMER_MS) {
      throw new RangeError(
        `new ${who}(): "${name}" must be a whole number of milliseconds from 1 to ` +
          `${MAX_TIMER_MS}, got ${value}`,
      );
    }
    chosen[name] = value;
  }
  if (chosen.maxReconnectDelayMs < chosen.reconnectDelayMs) {
    throw new RangeError(
      `new ${who}(): "maxReconnectDelayMs" must be at least "reconnectDelayMs" ` +
        `(${chosen.reconnectDelayMs}), got ${chosen.maxReconnectDelayMs}`,
    );
  }
  return chosen;
}

/** What every Redis broker is made with, whatever it connects to. */
export interface BrokerSettings {
  /** Prefix of every channel name. */
  prefix: string;
  timings: Timings;
  /** Where failures go; undefined: the server's logger. */
  onError: ((error: Error) => void) | undefined;
}

/** What a link to Redis is made with: the broker's settings, with where failures go decided. */
export interface LinkSettings extends BrokerSettings {
  onError: (error: Error) => void;
}

/**
 * The settings `options` asks for, checked, with defaults; `who` names the constructor.
 *
 * @throws {TypeError} for a timing that is not a number
 * @throws {RangeError} for one out of range
 */
export function brokerSettings(
  options: RedisTimingOptions & { prefix?: string; onError?: (error: Error) => void },
  who: string,
): BrokerSettings {
  return {
    prefix: options.prefix ?? "coro-ws:",
    timings: timings(options, who),
    onError: options.onError,
  };
}

/** The settings of a link: failures go to the broker's `onError`, else the server's `report`. */
export function linkSettings(
  broker: BrokerSettings,
  report: ((error: Error) => void) | undefined,
): LinkSettings {
  const onError = broker.onError ?? report ??
    ((error: Error) => console.error(`coro-ws: ${error.message}`));
  return { ...broker, onError };
}

/** The delay before reconnect attempt `retries` (0 first): doubling, capped, with jitter. */
export function backoff(timings: Timings, retries: number): number {
  const { reconnectDelayMs, maxReconnectDelayMs } = timings;
  // Jitter of up to one first delay, so servers cut off together do not reconnect together.
  return Math.min(reconnectDelayMs * 2 ** retries, maxReconnectDelayMs) +
    Math.random() * reconnectDelayMs;
}

/**
 * `<prefix>#all` for broadcasts, `<prefix>#topic:<topic>` for topics, with `%` and `#` in the
 * topic written `%25` and `%23`. What follows the prefix starts with the only `#` in it, so
 * prefixes that nest (`app:` and `app:#topic:x`, or `app:` and `app:topic:`) never share a
 * channel: a channel of the longer one would have two `#` after the shorter one.
 */
export function channelName(prefix: string, topic: string | null): string {
  if (topic === null) return `${prefix}#all`;
  return `${prefix}#topic:${topic.replaceAll("%", "%25").replaceAll("#", "%23")}`;
}

/** The topic of a channel {@link channelName} made; `null` for the broadcast channel. */
export function topicOfChannel(prefix: string, channel: string): string | null {
  const name = channel.slice(prefix.length);
  if (!name.startsWith("#topic:")) return null;
  return name.slice("#topic:".length).replaceAll("%23", "#").replaceAll("%25", "%");
}

/** Writes and reads messages on the wire, tagged with this server's random origin id. */
export class Wire {
  readonly #origin = crypto.getRandomValues(Buffer.alloc(ORIGIN_LENGTH));

  /** The bytes `message` takes on the wire, for the pending budget before it is encoded. */
  static size(message: BrokerMessage): number {
    const { data } = message;
    return HEADER_LENGTH + (typeof data === "string" ? Buffer.byteLength(data) : data.byteLength);
  }

  /**
   * One buffer per message: kind, origin, payload (text encoded straight into it). A `Buffer`
   * typed as `Uint8Array`, so that the package's declarations need no Node types (node-redis
   * takes a `Buffer`: view it as one with `Buffer.from(wire.buffer, offset, length)`).
   */
  encode(message: BrokerMessage, bytes: number): Uint8Array {
    const { data } = message;
    const wire = Buffer.allocUnsafe(bytes);
    wire[0] = (typeof data === "string" ? TEXT : BINARY) | (message.compress ? COMPRESS : 0);
    this.#origin.copy(wire, 1);
    if (typeof data === "string") wire.write(data, HEADER_LENGTH);
    else wire.set(data, HEADER_LENGTH);
    return wire;
  }

  /** The message in `bytes`; undefined for this server's own or one that is not ours. */
  decode(topic: string | null, bytes: Uint8Array): BrokerMessage | undefined {
    if (bytes.length < HEADER_LENGTH) return undefined; // Somebody else on the channel.
    if (this.#origin.equals(bytes.subarray(1, HEADER_LENGTH))) return undefined;
    const payload = bytes.subarray(HEADER_LENGTH);
    const data = (bytes[0] & BINARY) === TEXT ? decoder.decode(payload) : payload;
    return bytes[0] & COMPRESS ? { topic, data, compress: true } : { topic, data };
  }
}

/**
 * A broker's publishes on their way to Redis: encoded on the wire, and dropped rather than
 * queued once too many (or too many bytes) wait for Redis's reply.
 */
export class PendingPublishes {
  #count = 0;
  #bytes = 0;
  readonly #wire: Wire;
  readonly #send: (topic: string | null, bytes: Uint8Array) => Promise<unknown>;
  readonly #dropped: (topic: string | null, error: unknown) => void;

  /**
   * @param wire encodes each message
   * @param send publishes a message's bytes for its topic (PUBLISH or SPUBLISH); they are a
   * `Buffer`, typed as its base class so that the package's types need no `@types/node`
   * @param dropped told why a message was dropped: the bound, or Redis failing the publish
   */
  constructor(
    wire: Wire,
    send: (topic: string | null, bytes: Uint8Array) => Promise<unknown>,
    dropped: (topic: string | null, error: unknown) => void,
  ) {
    this.#wire = wire;
    this.#send = send;
    this.#dropped = dropped;
  }

  /** Sends `message` unless the bound is reached. */
  publish(message: BrokerMessage): void {
    const bytes = Wire.size(message);
    const waiting = this.#count >= MAX_PENDING_PUBLISHES
      ? `${this.#count} publishes`
      : this.#bytes > 0 && this.#bytes + bytes > MAX_PENDING_BYTES
      ? `${this.#bytes} bytes of publishes`
      : undefined;
    if (waiting) {
      return this.#dropped(message.topic, new Error(`${waiting} already wait for Redis`));
    }
    const wire = this.#wire.encode(message, bytes);
    this.#count++;
    this.#bytes += bytes;
    this.#send(message.topic, Buffer.from(wire.buffer, wire.byteOffset, wire.byteLength))
      .catch((error) => this.#dropped(message.topic, error))
      .finally(() => {
        this.#count--;
        this.#bytes -= bytes;
      });
  }
}

/** Commands whose failures come in bursts, reported at most once per interval, with a count. */
export type Failing = "publish" | "subscribe" | "unsubscribe";

/** Failures of one kind since it was last reported. */
interface Failures {
  count: number;
  /** The latest failure's topic and error, the ones reported. */
  topic: string | null;
  error: unknown;
  /** When they were last reported (ms since the epoch). */
  reportedAt: number;
  /** Set while a report waits for the end of the interval. */
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Reports failed commands at most once per interval for each kind: the first at once, the ones
 * after it together when the interval is over, so every failure is counted in some report.
 */
export class FailureReports {
  /** `Redis at URL`, `the Redis Cluster at SEEDS`: where the commands went, for messages. */
  readonly #where: string;
  readonly #onError: (error: Error) => void;
  readonly #failures = new Map<Failing, Failures>();
  /** Set by `close()`: failures after it are the closing's own, no timer may outlive it. */
  #closed = false;

  constructor(where: string, onError: (error: Error) => void) {
    this.#where = where;
    this.#onError = onError;
  }

  /** Counts one failure of `kind` and reports it, or holds it for the next report. */
  add(kind: Failing, topic: string | null, error: unknown): void {
    if (this.#closed) return;
    let failures = this.#failures.get(kind);
    if (!failures) {
      failures = { count: 0, topic, error, reportedAt: 0, timer: undefined };
      this.#failures.set(kind, failures);
    }
    failures.count++;
    failures.topic = topic;
    failures.error = error;
    if (failures.timer !== undefined) return;
    const wait = failures.reportedAt + DROP_REPORT_INTERVAL_MS - Date.now();
    if (wait <= 0) this.#flush(kind);
    else failures.timer = setTimeout(() => this.#flush(kind), wait);
  }

  /** Reports what is held and takes no more. */
  close(): void {
    this.#closed = true;
    for (const kind of this.#failures.keys()) this.#flush(kind);
  }

  #flush(kind: Failing): void {
    const failures = this.#failures.get(kind)!;
    clearTimeout(failures.timer);
    failures.timer = undefined;
    if (failures.count === 0) return;
    const { count, topic, error } = failures;
    failures.count = 0;
    failures.reportedAt = Date.now();
    const action = kind === "publish"
      ? `publish ${count} message(s) to`
      : `${kind} ${count} time(s), the last ${kind === "subscribe" ? "to" : "from"}`;
    // Topics come from the network (`room:${request.get.room}`): raw, a `%0A` forges a line.
    const what = topic === null ? "the broadcast channel" : `topic "${escapeForLog(topic)}"`;
    this.#onError(
      new Error(`Cannot ${action} ${what} on ${this.#where}: ${describeError(error)}`, {
        cause: error,
      }),
    );
  }
}

/** Rejects with `Cannot connect to WHERE: no reply` unless `opening` settles within `ms`. */
export async function withConnectTimeout(
  opening: Promise<void>,
  ms: number,
  where: string,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no Redis reply within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([opening, timeout]);
  } catch (error) {
    throw new Error(`Cannot connect to ${where}: ${describeError(error)}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/** Waits for `closing` at most {@link CLOSE_TIMEOUT_MS}. */
export async function closeWithin(closing: Promise<unknown>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    closing,
    new Promise((resolve) => timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)),
  ]);
  clearTimeout(timer);
}

/** The report of an outage of `where`, for `onError`. */
export function outageError(where: string, error: Error): Error {
  return new Error(
    `${where} is unreachable (${describeError(error)}): messages for other servers are ` +
      `dropped until it is back; reconnecting`,
    { cause: error },
  );
}

/** `url` fit for an error message. */
export function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.href;
  } catch {
    return url;
  }
}

/** `error` for a message that may reach a log: its text can come from Redis or the network. */
export function describeError(error: unknown): string {
  return escapeForLog(error instanceof Error ? error.message : String(error));
}
