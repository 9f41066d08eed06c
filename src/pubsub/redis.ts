/**
 * The Redis broker: `server.publish()` and `server.broadcast()` reach the connections of every
 * server, in any process on any host, that uses the same Redis. Its own entry point
 * (`coro-ws/redis`) so the core keeps no dependency; it needs the npm package `redis`.
 *
 * Delivery is Redis pub/sub's: at most once, in order per publishing server. While Redis is
 * unreachable, each server still delivers to its own connections, messages for the others are
 * dropped and reported once per outage through `onError`, and the broker reconnects with
 * backoff and subscribes Redis to the topics it wants again. A connection that does not answer
 * a PING in time counts as an outage and is replaced.
 *
 * @example
 * ```ts
 * import { Server } from "../../mod.ts";
 * import { RedisBroker } from "./redis.ts";
 * const server = new Server("127.0.0.1", 0);
 * server.useBroker(new RedisBroker({ url: "redis://127.0.0.1:6379" }));
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createClient, type RedisClientOptions } from "redis";
import { describe } from "../core/checks.ts";
import { escapeForLog } from "../core/observer.ts";
import type { BrokerLink, BrokerMessage, PubSubBroker } from "./broker.ts";

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
const MAX_PENDING_PUBLISHES = 10_000;
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
/** How long `close()` waits for publishes in flight before it drops the connection. */
const CLOSE_TIMEOUT_MS = 1_000;

const decoder = new TextDecoder();

type RedisClient = ReturnType<typeof createClient>;

/** Commands whose failures come in bursts, reported at most once per interval, with a count. */
type Failing = "publish" | "subscribe" | "unsubscribe";

/** A channel the server wants: its topic (`null`: broadcasts) and what delivers its messages. */
interface Wanted {
  topic: string | null;
  listener: (message: Buffer) => void;
}

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
 * Where Redis is and how to report its failures.
 *
 * @example
 * ```ts
 * import type { RedisBrokerOptions } from "./redis.ts";
 * const options: RedisBrokerOptions = {
 *   url: "redis://127.0.0.1:6379",
 *   prefix: "chat:",
 *   onError: (error) => console.warn(error.message),
 * };
 * ```
 */
export interface RedisBrokerOptions {
  /** The Redis server, e.g. `redis://user:password@host:6379/0`; default `redis://127.0.0.1:6379`. */
  url?: string;
  /** Prefix of every channel name, so several applications can share one Redis; default `coro-ws:`. */
  prefix?: string;
  /**
   * Told what went wrong: an outage (once until Redis is back) or a failed command; default:
   * the server's logger (`server.useLogger()`), whose default is `console`.
   */
  onError?: (error: Error) => void;
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

/** The broker's timings, in ms, each from its option in {@link RedisBrokerOptions}. */
interface Timings {
  connectTimeoutMs: number;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  reconnectDelayMs: number;
  maxReconnectDelayMs: number;
}

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
 * Joins servers through Redis pub/sub: each topic is the channel `<prefix>#topic:<topic>`
 * (`%` and `#` in the topic written `%25` and `%23`), broadcasts go on `<prefix>#all`, and a
 * server subscribes only to the topics its connections want. Prefixes that nest never share a
 * channel. Each server that connects opens two Redis connections (one for publishing, one
 * subscribed).
 *
 * @example A topic chat that spans processes
 * ```ts
 * import process from "node:process";
 * import { Server } from "../../mod.ts";
 * import { RedisBroker } from "./redis.ts";
 * const server = new Server("127.0.0.1", 0);
 * server.useBroker(new RedisBroker({ url: process.env.REDIS_URL }));
 * server.handle("/chat", async (request, ws) => {
 *   if (!await ws.upgrade()) return;
 *   const room = `room:${request.get.room ?? "lobby"}`;
 *   ws.subscribe(room);
 *   for await (const frame of ws) server.publish(room, String(frame.data));
 * });
 * ```
 */
export class RedisBroker implements PubSubBroker {
  readonly #url: string;
  readonly #prefix: string;
  readonly #onError: ((error: Error) => void) | undefined;
  readonly #timings: Timings;

  /**
   * Makes a broker; nothing connects until a server that uses it starts.
   *
   * @param options where Redis is; see {@link RedisBrokerOptions}
   * @throws {TypeError} for a timing that is not a number
   * @throws {RangeError} for a timing that is not from 1 ms to 2^31 - 1 ms, or a
   *   `maxReconnectDelayMs` below `reconnectDelayMs`
   *
   * @example Short timings, as for a test
   * ```ts
   * import { RedisBroker } from "./redis.ts";
   * const broker = new RedisBroker({ pingIntervalMs: 100, pingTimeoutMs: 500 });
   * ```
   */
  constructor(options: RedisBrokerOptions = {}) {
    this.#url = options.url ?? "redis://127.0.0.1:6379";
    this.#prefix = options.prefix ?? "coro-ws:";
    this.#onError = options.onError;
    this.#timings = timings(options);
  }

  /**
   * Connects a server to Redis; rejects when Redis cannot be reached at all, or does not answer
   * within `connectTimeoutMs` (default 5 s).
   *
   * @example
   * ```ts
   * import { RedisBroker } from "./redis.ts";
   * const link = await new RedisBroker().connect((message) => console.log(message));
   * link.subscribe("news");
   * await link.close();
   * ```
   */
  async connect(
    deliver: (message: BrokerMessage) => void,
    report?: (error: Error) => void,
  ): Promise<BrokerLink> {
    const onError = this.#onError ?? report ??
      ((error: Error) => console.error(`coro-ws: ${error.message}`));
    const link = new RedisLink(this.#url, this.#prefix, this.#timings, onError, deliver);
    await link.open();
    return link;
  }
}

class RedisLink implements BrokerLink {
  /** The Redis URL without its password, for messages. */
  readonly #url: string;
  readonly #prefix: string;
  readonly #timings: Timings;
  readonly #onError: (error: Error) => void;
  readonly #deliver: (message: BrokerMessage) => void;
  readonly #origin = crypto.getRandomValues(Buffer.alloc(ORIGIN_LENGTH));
  /** What each connection to Redis is made with. */
  readonly #clientOptions: RedisClientOptions;
  /** The connection publishes go on, replaced when it stops answering PINGs. */
  #publisher: RedisClient;
  /** The connection subscribed to the wanted channels, replaced when it stops answering PINGs. */
  #subscriber: RedisClient;
  /** When each connection's unanswered PING was sent (ms since the epoch). */
  readonly #pingSentAt = new Map<RedisClient, number>();
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  /** Whether Redis has been reached once: before that a failure fails `connect()`. */
  #connected = false;
  /** Whether the current outage has been reported. */
  #failing = false;

  get up(): boolean {
    return this.#connected && !this.#failing;
  }
  readonly #failures = new Map<Failing, Failures>();
  /** Set by `close()`: failures after it are the closing's own, no timer may outlive it. */
  #closed = false;
  /** The publishes waiting for Redis's reply, and their bytes. */
  #pendingPublishes = 0;
  #pendingBytes = 0;
  /**
   * The channels this server wants, with the topic and listener of each: what Redis is made to
   * match after every reconnect and every failed (un)subscribe. node-redis alone forgets a
   * SUBSCRIBE that failed (one sent during a stall lost its topic for good) and resubscribes
   * after an UNSUBSCRIBE that failed.
   */
  readonly #wanted = new Map<string, Wanted>();
  /** Set while a resync waits to retry after a failed (un)subscribe. */
  #resyncTimer: ReturnType<typeof setTimeout> | undefined;
  /** Resyncs retried since the subscriber was last ready, for their backoff. */
  #resyncRetries = 0;

  constructor(
    url: string,
    prefix: string,
    timings: Timings,
    onError: (error: Error) => void,
    deliver: (message: BrokerMessage) => void,
  ) {
    this.#url = withoutPassword(url);
    this.#prefix = prefix;
    this.#timings = timings;
    this.#onError = onError;
    this.#deliver = deliver;
    this.#clientOptions = {
      url,
      // While Redis is down a publish fails at once instead of piling up in memory, and nothing
      // waits to be subscribed: the resync after the reconnect subscribes what is wanted then.
      disableOfflineQueue: true,
      // Room for the heartbeat's PING beside the most publishes let wait.
      commandsQueueMaxLength: MAX_PENDING_PUBLISHES + 1,
      socket: {
        connectTimeout: timings.connectTimeoutMs,
        // Drops a connection that carries nothing for so long. The heartbeat watches ready ones;
        // this one, one still in its handshake (a reconnect to an endpoint that never answers).
        socketTimeout: timings.pingTimeoutMs,
        reconnectStrategy: (retries, cause) => this.#reconnectDelay(retries, cause),
      },
    };
    this.#publisher = this.#newClient();
    this.#subscriber = this.#newClient();
    this.#wanted.set(this.#channel(null), this.#wantedTopic(null));
  }

  async open(): Promise<void> {
    const { connectTimeoutMs } = this.#timings;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no Redis reply within ${connectTimeoutMs} ms`)),
        connectTimeoutMs,
      );
    });
    try {
      await Promise.race([this.#open(), timeout]);
      this.#heartbeat = setInterval(() => this.#beat(), this.#timings.pingIntervalMs);
    } catch (error) {
      this.#connected = false; // No reconnecting, no outage report: connect() fails.
      this.#destroy();
      throw new Error(`Cannot connect to Redis at ${this.#url}: ${describeError(error)}`, {
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  async #open(): Promise<void> {
    await Promise.all([this.#publisher.connect(), this.#subscriber.connect()]);
    this.#connected = true;
    const channel = this.#channel(null);
    await this.#subscriber.subscribe(channel, this.#wanted.get(channel)!.listener, true);
  }

  subscribe(topic: string): void {
    const channel = this.#channel(topic);
    if (this.#wanted.has(channel)) return;
    const wanted = this.#wantedTopic(topic);
    this.#wanted.set(channel, wanted);
    // While Redis is down nothing is sent: the resync once it is back subscribes.
    if (this.#subscriber.isReady) {
      this.#command("subscribe", topic, this.#subscriber.subscribe(channel, wanted.listener, true));
    }
  }

  unsubscribe(topic: string): void {
    const channel = this.#channel(topic);
    if (!this.#wanted.delete(channel)) return;
    if (this.#subscriber.isReady) {
      this.#command("unsubscribe", topic, this.#subscriber.unsubscribe(channel));
    }
  }

  publish(message: BrokerMessage): void {
    // One buffer per message: kind, origin, payload (text encoded straight into it).
    const { data } = message;
    const size = typeof data === "string" ? Buffer.byteLength(data) : data.byteLength;
    const bytes = HEADER_LENGTH + size;
    const waiting = this.#pendingPublishes >= MAX_PENDING_PUBLISHES
      ? `${this.#pendingPublishes} publishes`
      : this.#pendingBytes > 0 && this.#pendingBytes + bytes > MAX_PENDING_BYTES
      ? `${this.#pendingBytes} bytes of publishes`
      : undefined;
    if (waiting) {
      return this.#dropped(message.topic, new Error(`${waiting} already wait for Redis`));
    }
    const wire = Buffer.allocUnsafe(bytes);
    wire[0] = (typeof data === "string" ? TEXT : BINARY) | (message.compress ? COMPRESS : 0);
    this.#origin.copy(wire, 1);
    if (typeof data === "string") wire.write(data, HEADER_LENGTH);
    else wire.set(data, HEADER_LENGTH);
    this.#pendingPublishes++;
    this.#pendingBytes += bytes;
    this.#publisher.publish(this.#channel(message.topic), wire)
      .catch((error) => this.#dropped(message.topic, error))
      .finally(() => {
        this.#pendingPublishes--;
        this.#pendingBytes -= bytes;
      });
  }

  async close(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([this.#publisher.close(), this.#subscriber.close()]),
      new Promise((resolve) => timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)),
    ]);
    clearTimeout(timer);
    clearInterval(this.#heartbeat);
    clearTimeout(this.#resyncTimer);
    this.#destroy();
    this.#closed = true;
    for (const kind of this.#failures.keys()) this.#flushFailures(kind);
  }

  #receive(topic: string | null, message: Buffer): void {
    if (message.length < HEADER_LENGTH) return; // Not ours: somebody else on the channel.
    if (this.#origin.equals(message.subarray(1, HEADER_LENGTH))) return;
    const payload = message.subarray(HEADER_LENGTH);
    const data = (message[0] & BINARY) === TEXT ? decoder.decode(payload) : payload;
    this.#deliver(message[0] & COMPRESS ? { topic, data, compress: true } : { topic, data });
  }

  /**
   * `<prefix>#all` for broadcasts, `<prefix>#topic:<topic>` for topics, with `%` and `#` in the
   * topic written `%25` and `%23`. What follows the prefix starts with the only `#` in it, so
   * prefixes that nest (`app:` and `app:#topic:x`, or `app:` and `app:topic:`) never share a
   * channel: a channel of the longer one would have two `#` after the shorter one.
   */
  #channel(topic: string | null): string {
    if (topic === null) return `${this.#prefix}#all`;
    return `${this.#prefix}#topic:${topic.replaceAll("%", "%25").replaceAll("#", "%23")}`;
  }

  /** A connection to Redis, not yet connected, whose failures are reported while it is in use. */
  #newClient(): RedisClient {
    const client = createClient(this.#clientOptions);
    client.on("error", (error: Error) => {
      if (!this.#inUse(client)) return; // Replaced: its death throes.
      // Still ready: node-redis could not parse a reply and goes on reading the same socket,
      // where nothing after it can be trusted.
      if (client.isReady) this.#replace(client, error);
      else this.#outage(error);
    });
    client.on("ready", () => {
      if (!this.#inUse(client)) return;
      this.#pingSentAt.delete(client);
      if (client === this.#subscriber) {
        this.#resyncRetries = 0;
        if (this.#connected) this.#resync();
      }
      if (this.#publisher.isReady && this.#subscriber.isReady) this.#failing = false;
    });
    return client;
  }

  #inUse(client: RedisClient): boolean {
    return client === this.#publisher || client === this.#subscriber;
  }

  /**
   * Sends each ready connection a PING once the last one was answered, and replaces one whose
   * PING has waited `pingTimeoutMs`. Only a PONG proves a connection alive, not traffic: after a
   * corrupt bulk length node-redis reads everything that follows into one string, while the
   * socket stays open and busy.
   */
  #beat(): void {
    const now = Date.now();
    const { pingTimeoutMs } = this.#timings;
    for (const client of [this.#publisher, this.#subscriber]) {
      if (!client.isReady) continue; // Reconnecting: node-redis reports it and retries.
      const sentAt = this.#pingSentAt.get(client);
      if (sentAt === undefined) {
        this.#pingSentAt.set(client, now);
        // An error reply is an answer too; a dropped socket makes it not ready until "ready".
        const answered = () => {
          if (this.#pingSentAt.get(client) === now) this.#pingSentAt.delete(client);
        };
        client.ping().then(answered, answered);
      } else if (now - sentAt >= pingTimeoutMs) {
        this.#replace(client, new Error(`no PONG within ${pingTimeoutMs} ms`));
      }
    }
  }

  /**
   * Reports an outage and swaps `stale` for a new connection to the same Redis. What waited on
   * `stale` fails: its publishes are dropped, its (un)subscribes made good by the resync once
   * the new subscriber is ready.
   */
  #replace(stale: RedisClient, why: Error): void {
    if (this.#closed || !this.#connected) return;
    this.#outage(why);
    const fresh = this.#newClient();
    if (stale === this.#publisher) this.#publisher = fresh;
    else this.#subscriber = fresh;
    this.#pingSentAt.delete(stale);
    stale.destroy();
    // It retries with backoff until Redis answers; each failure comes as an "error" event.
    fresh.connect().catch(() => {});
  }

  #wantedTopic(topic: string | null): Wanted {
    return { topic, listener: (message) => this.#receive(topic, message) };
  }

  /**
   * Subscribes the subscriber to each wanted channel it lacks and unsubscribes it from each one
   * no longer wanted. Redis pub/sub connections know their channels but cannot be asked for them,
   * so node-redis's record of the channels Redis confirmed stands for them: it resubscribes each
   * of them before a reconnect is ready. A channel already on its way is sent again, which Redis
   * takes as a no-op.
   */
  #resync(): void {
    clearTimeout(this.#resyncTimer);
    this.#resyncTimer = undefined;
    const subscriber = this.#subscriber;
    if (this.#closed || !subscriber.isReady) return; // Its next "ready" resyncs.
    const onRedis = subscriber.getPubSubListeners("CHANNELS");
    for (const [channel, { topic, listener }] of this.#wanted) {
      if (!onRedis.has(channel)) {
        this.#command("subscribe", topic, subscriber.subscribe(channel, listener, true));
      }
    }
    for (const channel of onRedis.keys()) {
      if (!this.#wanted.has(channel)) {
        this.#command("unsubscribe", this.#topicOf(channel), subscriber.unsubscribe(channel));
      }
    }
  }

  /** Reports a failed (un)subscribe and resyncs after a backoff: Redis must match `#wanted`. */
  #command(kind: "subscribe" | "unsubscribe", topic: string | null, sent: Promise<void>): void {
    sent.catch((error) => {
      this.#throttled(kind, topic, error);
      if (this.#closed || this.#resyncTimer !== undefined) return;
      const delay = this.#reconnectDelay(this.#resyncRetries++, error);
      this.#resyncTimer = setTimeout(() => this.#resync(), typeof delay === "number" ? delay : 0);
    });
  }

  /** The topic of one of this server's channels; `null` for the broadcast channel. */
  #topicOf(channel: string): string | null {
    const name = channel.slice(this.#prefix.length);
    if (!name.startsWith("#topic:")) return null;
    return name.slice("#topic:".length).replaceAll("%23", "#").replaceAll("%25", "%");
  }

  #reconnectDelay(retries: number, cause: Error): number | Error {
    if (!this.#connected) return cause; // Never reached: let connect() fail.
    const { reconnectDelayMs, maxReconnectDelayMs } = this.#timings;
    // Jitter of up to one first delay, so servers cut off together do not reconnect together.
    return Math.min(reconnectDelayMs * 2 ** retries, maxReconnectDelayMs) +
      Math.random() * reconnectDelayMs;
  }

  #outage(error: Error): void {
    if (this.#failing || !this.#connected) return;
    this.#failing = true;
    this.#onError(
      new Error(
        `Redis at ${this.#url} is unreachable (${describeError(error)}): messages for other ` +
          `servers are dropped until it is back; reconnecting`,
        { cause: error },
      ),
    );
  }

  #dropped(topic: string | null, error: unknown): void {
    // An outage is reported once, by the client's error event. Other failures (a full queue
    // while Redis is slow) come in bursts.
    if (!this.#failing) this.#throttled("publish", topic, error);
  }

  /**
   * Reports a failure at most once per interval for its kind: the first at once, the ones after
   * it together when the interval is over, so every failure is counted in some report.
   */
  #throttled(kind: Failing, topic: string | null, error: unknown): void {
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
    if (wait <= 0) this.#flushFailures(kind);
    else failures.timer = setTimeout(() => this.#flushFailures(kind), wait);
  }

  #flushFailures(kind: Failing): void {
    const failures = this.#failures.get(kind)!;
    clearTimeout(failures.timer);
    failures.timer = undefined;
    if (failures.count === 0) return;
    const { count, topic, error } = failures;
    failures.count = 0;
    failures.reportedAt = Date.now();
    this.#report(
      kind === "publish"
        ? `publish ${count} message(s) to`
        : `${kind} ${count} time(s), the last ${kind === "subscribe" ? "to" : "from"}`,
      topic,
      error,
    );
  }

  #report(action: string, topic: string | null, error: unknown): void {
    // Topics come from the network (`room:${request.get.room}`): raw, a `%0A` forges a line.
    const what = topic === null ? "the broadcast channel" : `topic "${escapeForLog(topic)}"`;
    this.#onError(
      new Error(`Cannot ${action} ${what} on Redis at ${this.#url}: ${describeError(error)}`, {
        cause: error,
      }),
    );
  }

  #destroy(): void {
    for (const client of [this.#publisher, this.#subscriber]) if (client.isOpen) client.destroy();
  }
}

/**
 * The timings `options` asks for, each checked, the defaults for the others.
 *
 * @throws {TypeError} for a timing that is not a number
 * @throws {RangeError} for one out of range
 */
function timings(options: RedisBrokerOptions): Timings {
  const chosen = { ...DEFAULT_TIMINGS };
  for (const name of Object.keys(DEFAULT_TIMINGS) as (keyof Timings)[]) {
    const value: unknown = options[name];
    if (value === undefined) continue;
    if (typeof value !== "number") {
      throw new TypeError(
        `new RedisBroker(): "${name}" must be a number of milliseconds, got ${describe(value)}`,
      );
    }
    if (!Number.isInteger(value) || value < 1 || value > MAX_TIMER_MS) {
      throw new RangeError(
        `new RedisBroker(): "${name}" must be a whole number of milliseconds from 1 to ` +
          `${MAX_TIMER_MS}, got ${value}`,
      );
    }
    chosen[name] = value;
  }
  if (chosen.maxReconnectDelayMs < chosen.reconnectDelayMs) {
    throw new RangeError(
      `new RedisBroker(): "maxReconnectDelayMs" must be at least "reconnectDelayMs" ` +
        `(${chosen.reconnectDelayMs}), got ${chosen.maxReconnectDelayMs}`,
    );
  }
  return chosen;
}

/** `url` fit for an error message. */
function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.href;
  } catch {
    return url;
  }
}

/** `error` for a message that may reach a log: its text can come from Redis or the network. */
function describeError(error: unknown): string {
  return escapeForLog(error instanceof Error ? error.message : String(error));
}
