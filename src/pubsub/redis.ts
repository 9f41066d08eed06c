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
import type { BrokerLink, BrokerMessage, PubSubBroker } from "./broker.ts";
import {
  backoff,
  type BrokerSettings,
  brokerSettings,
  channelName,
  closeWithin,
  FailureReports,
  type LinkSettings,
  linkSettings,
  MAX_PENDING_PUBLISHES,
  outageError,
  PendingPublishes,
  type RedisTimingOptions,
  topicOfChannel,
  Wire,
  withConnectTimeout,
  withoutPassword,
} from "./_redis_shared.ts";

export type { RedisTimingOptions } from "./_redis_shared.ts";
export { RedisClusterBroker, type RedisClusterBrokerOptions } from "./redis_cluster.ts";
export { RedisHistoryStore, type RedisHistoryStoreOptions } from "./redis_history.ts";
export { RedisPresenceStore, type RedisPresenceStoreOptions } from "./redis_presence.ts";
export {
  MemoryPresenceStore,
  Presence,
  type PresenceEntry,
  type PresenceEvent,
  type PresenceLink,
  type PresenceMember,
  type PresenceOptions,
  type PresenceStore,
} from "./presence.ts";
export {
  type HistoryEntry,
  type HistoryLink,
  type HistoryListener,
  type HistoryOptions,
  type HistoryStore,
  type HistorySubscribeOptions,
  type HistorySubscriber,
  type HistorySubscription,
  MemoryHistoryStore,
  TopicHistory,
} from "./history.ts";

type RedisClient = ReturnType<typeof createClient>;

/** A channel the server wants: its topic (`null`: broadcasts) and what delivers its messages. */
interface Wanted {
  topic: string | null;
  listener: (message: Buffer) => void;
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
export interface RedisBrokerOptions extends RedisTimingOptions {
  /** The Redis server, e.g. `redis://user:password@host:6379/0`; default `redis://127.0.0.1:6379`. */
  url?: string;
  /** Prefix of every channel name, so several applications can share one Redis; default `coro-ws:`. */
  prefix?: string;
  /**
   * Told what went wrong: an outage (once until Redis is back) or a failed command; default:
   * the server's logger (`server.useLogger()`), whose default is `console`.
   */
  onError?: (error: Error) => void;
}

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
  readonly #settings: BrokerSettings;

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
    this.#settings = brokerSettings(options, "RedisBroker");
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
    const link = new RedisLink(this.#url, linkSettings(this.#settings, report), deliver);
    await link.open();
    return link;
  }
}

class RedisLink implements BrokerLink {
  /** The Redis URL without its password, for messages. */
  readonly #url: string;
  readonly #settings: LinkSettings;
  readonly #deliver: (message: BrokerMessage) => void;
  readonly #wire = new Wire();
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
  readonly #failures: FailureReports;
  /** Set by `close()`: failures after it are the closing's own, no timer may outlive it. */
  #closed = false;
  readonly #pending = new PendingPublishes(
    this.#wire,
    (topic, bytes) => this.#publisher.publish(this.#channel(topic), bytes as Buffer),
    (topic, error) => this.#dropped(topic, error),
  );
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
    settings: LinkSettings,
    deliver: (message: BrokerMessage) => void,
  ) {
    this.#url = withoutPassword(url);
    this.#settings = settings;
    const { timings, onError } = settings;
    this.#deliver = deliver;
    this.#failures = new FailureReports(`Redis at ${this.#url}`, onError);
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
    try {
      await withConnectTimeout(
        this.#open(),
        this.#settings.timings.connectTimeoutMs,
        `Redis at ${this.#url}`,
      );
      this.#heartbeat = setInterval(() => this.#beat(), this.#settings.timings.pingIntervalMs);
    } catch (error) {
      this.#connected = false; // No reconnecting, no outage report: connect() fails.
      this.#destroy();
      throw error;
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
    this.#pending.publish(message);
  }

  async close(): Promise<void> {
    await closeWithin(Promise.allSettled([this.#publisher.close(), this.#subscriber.close()]));
    clearInterval(this.#heartbeat);
    clearTimeout(this.#resyncTimer);
    this.#destroy();
    this.#closed = true;
    this.#failures.close();
  }

  #receive(topic: string | null, bytes: Buffer): void {
    const message = this.#wire.decode(topic, bytes);
    if (message) this.#deliver(message);
  }

  /** This server's channel for `topic`; see {@link channelName}. */
  #channel(topic: string | null): string {
    return channelName(this.#settings.prefix, topic);
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
    const { pingTimeoutMs } = this.#settings.timings;
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
      this.#failures.add(kind, topic, error);
      if (this.#closed || this.#resyncTimer !== undefined) return;
      const delay = this.#reconnectDelay(this.#resyncRetries++, error);
      this.#resyncTimer = setTimeout(() => this.#resync(), typeof delay === "number" ? delay : 0);
    });
  }

  /** The topic of one of this server's channels; `null` for the broadcast channel. */
  #topicOf(channel: string): string | null {
    return topicOfChannel(this.#settings.prefix, channel);
  }

  #reconnectDelay(retries: number, cause: Error): number | Error {
    if (!this.#connected) return cause; // Never reached: let connect() fail.
    return backoff(this.#settings.timings, retries);
  }

  #outage(error: Error): void {
    if (this.#failing || !this.#connected) return;
    this.#failing = true;
    this.#settings.onError(outageError(`Redis at ${this.#url}`, error));
  }

  #dropped(topic: string | null, error: unknown): void {
    // An outage is reported once, by the client's error event. Other failures (a full queue
    // while Redis is slow) come in bursts.
    if (!this.#failing) this.#failures.add("publish", topic, error);
  }

  #destroy(): void {
    for (const client of [this.#publisher, this.#subscriber]) if (client.isOpen) client.destroy();
  }
}
