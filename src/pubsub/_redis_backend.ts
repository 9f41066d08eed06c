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

/** The client options both kinds of backend give each connection. */
function clientDefaults(settings: shared.LinkSettings, connected: () => boolean) {
  const { timings } = settings;
  return {
    // While Redis is down, an append fails at once instead of waiting in memory.
    disableOfflineQueue: true,
    pingInterval: timings.pingIntervalMs,
    socket: {
      connectTimeout: timings.connectTimeoutMs,
      socketTimeout: timings.pingTimeoutMs,
      reconnectStrategy: (retries: number, cause: Error) =>
        connected() ? shared.backoff(timings, retries) : cause,
    },
  };
}

function singleLink(
  url: string,
  settings: shared.LinkSettings,
  reconnected: () => void,
): Backend {
  let connected = false;
  let failing = false;
  const where = `Redis at ${shared.withoutPassword(url)}`;
  const commands = createClient({ url, ...clientDefaults(settings, () => connected) });
  const subscriber = commands.duplicate();
  for (const client of [commands, subscriber]) {
    client.on("error", (error: Error) => {
      if (!connected || failing) return;
      failing = true;
      settings.onError(shared.outageError(where, error));
    });
  }
  subscriber.on("ready", () => {
    failing = false;
    if (connected) reconnected();
  });
  return {
    where,
    sharded: false,
    async connect() {
      await Promise.all([commands.connect(), subscriber.connect()]);
      connected = true;
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
  let connected = false;
  let failing = false;
  const urls = seeds.map((seed) => /^rediss?:\/\//.test(seed) ? seed : `redis://${seed}`);
  const where = `the Redis Cluster at ${urls.map(shared.withoutPassword).join(",")}`;
  const cluster = createCluster({
    rootNodes: urls.map((url) => ({ url })),
    defaults: clientDefaults(settings, () => connected),
    topologyRefreshOnReconnectionAttemptStrategy: settings.timings.pingTimeoutMs,
  });
  const outage = (error: Error) => {
    if (!connected || failing) return;
    failing = true;
    settings.onError(shared.outageError(`A shard of ${where}`, error));
  };
  cluster.on("error", outage);
  cluster.on("node-error", outage);
  cluster.on("node-ready", () => {
    failing = false;
    if (connected) reconnected();
  });
  return {
    where,
    sharded: true,
    async connect() {
      await cluster.connect();
      connected = true;
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
