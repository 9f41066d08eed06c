/**
 * One Redis or a Redis Cluster behind the same few calls (scripts, channels), for the history
 * and presence stores. Internal: not an entry point.
 *
 * @module
 */

import { createClient, createCluster } from "redis";
import * as shared from "./_redis_shared.ts";

/** Where: one Redis (`url`, the default) or a cluster (`seeds`). */
export interface BackendTarget {
  url?: string;
  seeds?: string[];
}

/**
 * Connections to `target`, not yet connected; `reconnected` is called each time the subscribed
 * connection (or, on a cluster, any node) is ready again after the first time.
 */
export function openBackend(
  target: BackendTarget,
  settings: shared.LinkSettings,
  reconnected: () => void,
): Backend {
  return target.seeds
    ? clusterLink(target.seeds, settings, reconnected)
    : singleLink(target.url ?? "redis://127.0.0.1:6379", settings, reconnected);
}

/** What the history and presence stores need from one Redis or a cluster. */
export interface Backend {
  /** Where, for messages. */
  readonly where: string;
  /** Whether channels are sharded (SPUBLISH). */
  readonly sharded: boolean;
  connect(): Promise<void>;
  eval(script: string, keys: string[], args: string[]): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Whether a backend has connected once, and whether it is failing now: an outage is reported
 * once, when it starts, and `reconnected` is called when it ends.
 */
class LinkHealth {
  connected = false;
  #failing = false;
  readonly #settings: shared.LinkSettings;
  readonly #reconnected: () => void;

  constructor(settings: shared.LinkSettings, reconnected: () => void) {
    this.#settings = settings;
    this.#reconnected = reconnected;
  }

  failed(where: string, error: Error): void {
    if (!this.connected || this.#failing) return;
    this.#failing = true;
    this.#settings.onError(shared.outageError(where, error));
  }

  ready(): void {
    this.#failing = false;
    if (this.connected) this.#reconnected();
  }
}

/** The client options both kinds of backend give each connection. */
function clientDefaults(settings: shared.LinkSettings, health: LinkHealth) {
  const { timings } = settings;
  return {
    // While Redis is down, an append fails at once instead of waiting in memory.
    disableOfflineQueue: true,
    pingInterval: timings.pingIntervalMs,
    socket: {
      connectTimeout: timings.connectTimeoutMs,
      socketTimeout: timings.pingTimeoutMs,
      reconnectStrategy: (retries: number, cause: Error) =>
        health.connected ? shared.backoff(timings, retries) : cause,
    },
  };
}

function singleLink(
  url: string,
  settings: shared.LinkSettings,
  reconnected: () => void,
): Backend {
  const health = new LinkHealth(settings, reconnected);
  const where = `Redis at ${shared.withoutPassword(url)}`;
  const commands = createClient({ url, ...clientDefaults(settings, health) });
  const subscriber = commands.duplicate();
  for (const client of [commands, subscriber]) {
    client.on("error", (error: Error) => health.failed(where, error));
  }
  subscriber.on("ready", () => health.ready());
  return {
    where,
    sharded: false,
    async connect() {
      await Promise.all([commands.connect(), subscriber.connect()]);
      health.connected = true;
    },
    eval: (script, keys, args) => commands.eval(script, { keys, arguments: args }),
    subscribe: (channel, receive) => subscriber.subscribe(channel, receive),
    unsubscribe: (channel) => subscriber.unsubscribe(channel),
    async close() {
      await shared.closeWithin(Promise.allSettled([commands.close(), subscriber.close()]));
      for (const client of [commands, subscriber]) if (client.isOpen) client.destroy();
    },
  };
}

function clusterLink(
  seeds: string[],
  settings: shared.LinkSettings,
  reconnected: () => void,
): Backend {
  const health = new LinkHealth(settings, reconnected);
  const urls = seeds.map((seed) => /^rediss?:\/\//.test(seed) ? seed : `redis://${seed}`);
  const where = `the Redis Cluster at ${urls.map(shared.withoutPassword).join(",")}`;
  const cluster = createCluster({
    rootNodes: urls.map((url) => ({ url })),
    defaults: clientDefaults(settings, health),
    topologyRefreshOnReconnectionAttemptStrategy: settings.timings.pingTimeoutMs,
  });
  const outage = (error: Error) => health.failed(`A shard of ${where}`, error);
  cluster.on("error", outage);
  cluster.on("node-error", outage);
  cluster.on("node-ready", () => health.ready());
  return {
    where,
    sharded: true,
    async connect() {
      await cluster.connect();
      health.connected = true;
    },
    eval: (script, keys, args) => cluster.eval(script, { keys, arguments: args }),
    subscribe: (channel, receive) => cluster.sSubscribe(channel, receive),
    unsubscribe: (channel) => cluster.sUnsubscribe(channel),
    async close() {
      await shared.closeWithin(cluster.close().catch(() => {}));
      if (cluster.isOpen) cluster.destroy();
    },
  };
}
