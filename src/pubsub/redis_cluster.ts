/**
 * The Redis Cluster broker: like {@link RedisBroker} (from the same entry point,
 * `coro-ws/redis`), but on a Redis Cluster with sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`, Redis
 * 7), so each topic lives on the shard that owns its channel's slot and adding shards adds
 * capacity.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createCluster, type RedisClusterOptions } from "redis";
import type { BrokerLink, BrokerMessage, PubSubBroker } from "./broker.ts";
import * as shared from "./_redis_shared.ts";

/** A cluster client as the broker makes it (RESP2, node-redis's default). */
function newCluster(options: RedisClusterOptions) {
  return createCluster(options);
}
type RedisCluster = ReturnType<typeof newCluster>;

/**
 * Where the cluster is and how to report its failures.
 *
 * @example
 * ```ts
 * import type { RedisClusterBrokerOptions } from "./redis.ts";
 * const options: RedisClusterBrokerOptions = {
 *   seeds: ["10.0.0.1:7000", "10.0.0.2:7000"],
 *   onError: (error) => console.warn(error.message),
 * };
 * ```
 */
export interface RedisClusterBrokerOptions extends shared.RedisTimingOptions {
  /**
   * Some of the cluster's nodes, as `host:port` or `redis://[user:password@]host:port` URLs: the
   * broker asks the first that answers for the others. Default `["127.0.0.1:7000"]`. A password
   * in the first URL is used for every node.
   */
  seeds?: string[];
  /** Prefix of every channel name, so several applications can share one cluster; default `coro-ws:`. */
  prefix?: string;
  /**
   * Told what went wrong: an outage of a shard (once until the whole cluster is back) or a
   * failed command; default: the server's logger (`server.useLogger()`), whose default is
   * `console`.
   */
  onError?: (error: Error) => void;
}

/**
 * Joins servers through a Redis Cluster's sharded pub/sub, with the channels of
 * {@link RedisBroker} (`<prefix>#topic:<topic>`, broadcasts on `<prefix>#all`), each on the
 * shard that owns its slot. The same guarantees: at most once, in order per publishing server,
 * never back to the server that published. While a shard is down, its topics' messages for other
 * servers are dropped (not queued) and the outage is reported once; node-redis follows failovers
 * and slot moves, and the broker checks every `pingIntervalMs` that each topic it wants is
 * subscribed on the shard that serves it now, subscribing it again where it is not.
 *
 * @example
 * ```ts
 * import process from "node:process";
 * import { Server } from "../../mod.ts";
 * import { RedisClusterBroker } from "./redis.ts";
 * const server = new Server("127.0.0.1", 0);
 * const seeds = (process.env.REDIS_CLUSTER ?? "127.0.0.1:7000").split(",");
 * server.useBroker(new RedisClusterBroker({ seeds }));
 * ```
 */
export class RedisClusterBroker implements PubSubBroker {
  readonly #seeds: string[];
  readonly #settings: shared.BrokerSettings;

  /**
   * Makes a broker; nothing connects until a server that uses it starts.
   *
   * @param options where the cluster is; see {@link RedisClusterBrokerOptions}
   * @throws {TypeError} for no seeds, or a timing that is not a number
   * @throws {RangeError} for a timing that is not from 1 ms to 2^31 - 1 ms, or a
   *   `maxReconnectDelayMs` below `reconnectDelayMs`
   *
   * @example
   * ```ts
   * import { RedisClusterBroker } from "./redis.ts";
   * const broker = new RedisClusterBroker({ seeds: ["127.0.0.1:7000"], pingIntervalMs: 200 });
   * ```
   */
  constructor(options: RedisClusterBrokerOptions = {}) {
    const seeds = options.seeds ?? ["127.0.0.1:7000"];
    if (!Array.isArray(seeds) || seeds.length === 0 || seeds.some((s) => typeof s !== "string")) {
      throw new TypeError(
        'new RedisClusterBroker(): "seeds" must be a non-empty array of "host:port" strings',
      );
    }
    this.#seeds = seeds.map((seed) => /^rediss?:\/\//.test(seed) ? seed : `redis://${seed}`);
    this.#settings = shared.brokerSettings(options, "RedisClusterBroker");
  }

  /**
   * Connects a server to the cluster; rejects when no seed answers, or the cluster does not
   * within `connectTimeoutMs` (default 5 s).
   *
   * @example
   * ```ts
   * import { RedisClusterBroker } from "./redis.ts";
   * const broker = new RedisClusterBroker({ seeds: ["127.0.0.1:7000"] });
   * const link = await broker.connect((message) => console.log(message));
   * link.subscribe("news");
   * await link.close();
   * ```
   */
  async connect(
    deliver: (message: BrokerMessage) => void,
    report?: (error: Error) => void,
  ): Promise<BrokerLink> {
    const link = new ClusterLink(this.#seeds, shared.linkSettings(this.#settings, report), deliver);
    await link.open();
    return link;
  }
}

class ClusterLink implements BrokerLink {
  /** `the Redis Cluster at SEEDS`, passwords hidden: where, for messages. */
  readonly #where: string;
  readonly #settings: shared.LinkSettings;
  readonly #deliver: (message: BrokerMessage) => void;
  readonly #wire = new shared.Wire();
  readonly #cluster: RedisCluster;
  readonly #failures: shared.FailureReports;
  readonly #pending = new shared.PendingPublishes(
    this.#wire,
    (topic, bytes) => this.#cluster.sPublish(this.#channel(topic), bytes as Buffer),
    (topic, error) => this.#dropped(topic, error),
  );
  /** The channels this server wants, with what delivers each one's messages. */
  readonly #wanted = new Map<string, (message: Buffer) => void>();
  /** Channels whose (un)subscribe is on its way, not to be sent again by the resync meanwhile. */
  readonly #inFlight = new Set<string>();
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  /** Whether the cluster has been reached once: before that a failure fails `connect()`. */
  #connected = false;
  /** Whether the current outage has been reported. */
  #failing = false;
  #closed = false;

  get up(): boolean {
    return this.#connected && !this.#failing;
  }

  constructor(
    seeds: string[],
    settings: shared.LinkSettings,
    deliver: (message: BrokerMessage) => void,
  ) {
    this.#where = `the Redis Cluster at ${seeds.map(shared.withoutPassword).join(",")}`;
    this.#settings = settings;
    const { timings, onError } = settings;
    this.#deliver = deliver;
    this.#failures = new shared.FailureReports(this.#where, onError);
    const first = new URL(seeds[0]);
    const options: RedisClusterOptions = {
      rootNodes: seeds.map((url) => ({ url })),
      defaults: {
        ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
        ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
        // While a shard is down a publish to it fails at once instead of piling up in memory.
        disableOfflineQueue: true,
        commandsQueueMaxLength: shared.MAX_PENDING_PUBLISHES + 1,
        // A PING each interval keeps a live connection busy, so one that carries nothing for
        // `pingTimeoutMs` is stalled: node-redis drops it and reconnects.
        pingInterval: timings.pingIntervalMs,
        socket: {
          connectTimeout: timings.connectTimeoutMs,
          socketTimeout: timings.pingTimeoutMs,
          reconnectStrategy: (retries: number, cause: Error) =>
            this.#connected ? shared.backoff(timings, retries) : cause,
        },
      },
      // A node that keeps reconnecting this long makes node-redis ask the others for the
      // topology: how a replica promoted after a crash is found.
      topologyRefreshOnReconnectionAttemptStrategy: timings.pingTimeoutMs,
    };
    this.#cluster = newCluster(options);
    this.#cluster.on("error", (error: Error) => this.#outage(error));
    this.#cluster.on("node-error", (error: Error) => this.#outage(error));
    this.#cluster.on("node-ready", () => this.#check());
    this.#wanted.set(this.#channel(null), this.#listener(null));
  }

  async open(): Promise<void> {
    try {
      await shared.withConnectTimeout(
        this.#open(),
        this.#settings.timings.connectTimeoutMs,
        this.#where,
      );
      this.#heartbeat = setInterval(() => this.#check(), this.#settings.timings.pingIntervalMs);
    } catch (error) {
      this.#connected = false;
      this.#cluster.destroy();
      throw error;
    }
  }

  async #open(): Promise<void> {
    await this.#cluster.connect();
    this.#connected = true;
    const channel = this.#channel(null);
    await this.#cluster.sSubscribe(channel, this.#wanted.get(channel)!, true);
  }

  subscribe(topic: string): void {
    const channel = this.#channel(topic);
    if (this.#wanted.has(channel)) return;
    this.#wanted.set(channel, this.#listener(topic));
    this.#send("subscribe", topic, channel);
  }

  unsubscribe(topic: string): void {
    const channel = this.#channel(topic);
    if (!this.#wanted.delete(channel)) return;
    this.#send("unsubscribe", topic, channel);
  }

  publish(message: BrokerMessage): void {
    this.#pending.publish(message);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#heartbeat);
    await shared.closeWithin(this.#cluster.close().catch(() => {}));
    if (this.#cluster.isOpen) this.#cluster.destroy();
    this.#failures.close();
  }

  #channel(topic: string | null): string {
    return shared.channelName(this.#settings.prefix, topic);
  }

  #listener(topic: string | null): (message: Buffer) => void {
    return (bytes) => {
      const message = this.#wire.decode(topic, bytes);
      if (message) this.#deliver(message);
    };
  }

  /** SSUBSCRIBEs or SUNSUBSCRIBEs `channel` unless one is on its way; the check retries failures. */
  #send(kind: "subscribe" | "unsubscribe", topic: string | null, channel: string): void {
    if (this.#closed || this.#inFlight.has(channel) || !this.#cluster.isReady) return;
    this.#inFlight.add(channel);
    const listener = this.#wanted.get(channel);
    const sent = kind === "subscribe" && listener
      ? this.#cluster.sSubscribe(channel, listener, true)
      : this.#cluster.sUnsubscribe(channel);
    sent.then(
      () => {
        this.#inFlight.delete(channel);
        // Wanted again, or no longer, while it was on its way.
        if (this.#wanted.has(channel) !== (kind === "subscribe")) this.#check();
      },
      (error) => {
        this.#inFlight.delete(channel);
        if (!this.#failing) this.#failures.add(kind, topic, error);
      },
    );
  }

  /**
   * Makes the cluster match what is wanted: each wanted channel must be held by the subscriber
   * of a primary that serves slots now (node-redis moves them after a failover or a slot move,
   * but forgets one whose move failed), and no other. Then clears the outage once every primary
   * is ready again.
   */
  #check(): void {
    if (this.#closed || !this.#connected || !this.#cluster.isReady) return;
    const held = new Set<string>();
    let whole = true;
    for (const master of this.#cluster.masters) {
      if (!master.client?.isReady) whole = false;
      const subscriber = master.pubSub?.client;
      if (!subscriber) continue;
      if (!subscriber.isReady) whole = false;
      for (const channel of subscriber.getPubSubListeners("SHARDED").keys()) held.add(channel);
    }
    for (const channel of this.#wanted.keys()) {
      if (!held.has(channel)) {
        this.#send("subscribe", shared.topicOfChannel(this.#settings.prefix, channel), channel);
      }
    }
    for (const channel of held) {
      if (!this.#wanted.has(channel)) {
        this.#send("unsubscribe", shared.topicOfChannel(this.#settings.prefix, channel), channel);
      }
    }
    if (whole) this.#failing = false;
  }

  #outage(error: Error): void {
    if (this.#failing || !this.#connected || this.#closed) return;
    this.#failing = true;
    this.#settings.onError(shared.outageError(`A shard of ${this.#where}`, error));
  }

  #dropped(topic: string | null, error: unknown): void {
    if (!this.#failing) this.#failures.add("publish", topic, error);
  }
}
