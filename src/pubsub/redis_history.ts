/**
 * Topic histories on Redis Streams, on one Redis or a Redis Cluster: see {@link TopicHistory}.
 *
 * @module
 */

import type { HistoryEntry, HistoryLink, HistoryListener, HistoryStore } from "./history.ts";
import { historyLimits, type HistoryOptions, parsePosition } from "./history.ts";
import * as shared from "./_redis_shared.ts";
import { openBackend } from "./_redis_backend.ts";

/**
 * Deletes the oldest entries appended before `now - ARGV[age]` (ms, Redis's clock; 0: no age
 * limit). Each entry's fields are `d` (the data) and `t` (when it was appended).
 */
const TRIM = (age: number) => `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local maxAge = tonumber(ARGV[${age}])
if maxAge > 0 then
  local cutoff = now - maxAge
  local done = false
  while not done do
    local head = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 100)
    done = #head < 100
    for _, e in ipairs(head) do
      if tonumber(e[2][4]) >= cutoff then done = true; break end
      redis.call('XDEL', KEYS[1], e[1])
    end
  end
end`;

/** This Redis process's run id: a new one at each restart, and another on a promoted replica. */
const RUN = `local run = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')`;

/**
 * Appends to a topic's stream, capped, and publishes the entry on the topic's channel in the
 * same step, so every server gets the entries in the order of their ids. Ids are `N-0`, N
 * counting every entry ever appended, so a gap is told from none: trimming only drops the
 * oldest. The epoch and the count live in a hash beside the stream, with the run id of the
 * Redis that made the epoch: a restart or a failover may have lost the last appends (Redis
 * replicates and persists asynchronously), after which an id could be given again to another
 * message, so either starts a new epoch and positions from before are not recovered.
 * KEYS: stream, its hash. ARGV: size, a new epoch, data, PUBLISH or SPUBLISH, channel, max age.
 */
const APPEND = `${RUN}${TRIM(6)}
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch or redis.call('HGET', KEYS[2], 'run') ~= run then
  epoch = ARGV[2]
  redis.call('HSET', KEYS[2], 'epoch', epoch, 'run', run)
end
local n = redis.call('HINCRBY', KEYS[2], 'n', 1)
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], n .. '-0', 'd', ARGV[3], 't', now)
local pos = epoch .. ':' .. id
redis.call(ARGV[4], ARGV[5], pos .. '\\n' .. ARGV[3])
return pos`;

/**
 * The oldest id kept, the count of entries ever appended, and the entries after an id; nil when
 * the epoch is not the stream's, or was made by another Redis process (see APPEND).
 * KEYS: stream, its hash. ARGV: epoch, id, max age.
 */
const AFTER = `${RUN}${TRIM(3)}
if redis.call('HGET', KEYS[2], 'epoch') ~= ARGV[1] or redis.call('HGET', KEYS[2], 'run') ~= run then
  return nil
end
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
local n = redis.call('HGET', KEYS[2], 'n')
return {first and first[1] or '', n, redis.call('XRANGE', KEYS[1], '(' .. ARGV[2], '+')}`;

/**
 * Where the histories are: one Redis (`url`) or a Redis Cluster (`seeds`), and how much each
 * topic keeps.
 *
 * @example
 * ```ts
 * import type { RedisHistoryStoreOptions } from "./redis.ts";
 * const onOneRedis: RedisHistoryStoreOptions = { url: "redis://127.0.0.1:6379", size: 100 };
 * const onACluster: RedisHistoryStoreOptions = { seeds: ["127.0.0.1:7000"], size: 100 };
 * ```
 */
export interface RedisHistoryStoreOptions extends shared.RedisTimingOptions, HistoryOptions {
  /** One Redis, e.g. `redis://127.0.0.1:6379`; the default unless `seeds` is given. */
  url?: string;
  /** Some nodes of a Redis Cluster, as `host:port` or URLs: the histories are on the cluster. */
  seeds?: string[];
  /** Prefix of every key and channel; default `coro-ws:`. */
  prefix?: string;
  /** Told about failures of the link that carries new entries; default `console.error`. */
  onError?: (error: Error) => void;
}

/**
 * Topic histories on Redis Streams: each topic is the stream `<prefix>{history:<topic>}:stream`
 * (its epoch and count in the hash `...:count`), capped at `size` entries, and its new entries reach every server on
 * the channel `<prefix>{history:<topic>}` (sharded pub/sub on a cluster, where all three share
 * the topic's slot). Each server that opens it makes two Redis connections, or one cluster
 * client.
 *
 * @example
 * ```ts
 * import { TopicHistory } from "./history.ts";
 * import { RedisHistoryStore } from "./redis.ts";
 * const history = new TopicHistory(new RedisHistoryStore({ url: "redis://127.0.0.1:6379" }));
 * ```
 */
export class RedisHistoryStore implements HistoryStore {
  readonly #options: RedisHistoryStoreOptions;
  readonly #size: number;
  readonly #maxAgeMs: number;
  readonly #settings: shared.BrokerSettings;

  /**
   * Makes a store; nothing connects until a {@link TopicHistory} uses it.
   *
   * @param options where Redis is; see {@link RedisHistoryStoreOptions}
   * @throws {RangeError} for a size that is not a whole number from 1, or a bad timing
   */
  constructor(options: RedisHistoryStoreOptions = {}) {
    this.#options = options;
    ({ size: this.#size, maxAgeMs: this.#maxAgeMs } = historyLimits(options, "RedisHistoryStore"));
    this.#settings = shared.brokerSettings(options, "RedisHistoryStore");
  }

  /** Connects one server; rejects when Redis cannot be reached. */
  async open(listener: HistoryListener): Promise<HistoryLink> {
    const settings = shared.linkSettings(this.#settings, undefined);
    // node-redis subscribes again on its own after a reconnect; what was published meanwhile
    // was missed: each connection is caught up.
    const link = openBackend(this.#options, settings, () => listener.gap());
    const names = (topic: string) => {
      const tag = `${settings.prefix}{history:${topic}}`;
      return { stream: `${tag}:stream`, epoch: `${tag}:count`, channel: tag };
    };
    const channels = new Map<string, string>();
    const receive = (channel: string) => (message: string) => {
      const topic = channels.get(channel);
      const newline = message.indexOf("\n");
      if (topic === undefined || newline === -1) return;
      listener.entry(topic, { pos: message.slice(0, newline), data: message.slice(newline + 1) });
    };
    await shared.withConnectTimeout(link.connect(), settings.timings.connectTimeoutMs, link.where);
    return {
      append: async (topic, data) => {
        const { stream, epoch, channel } = names(topic);
        const newEpoch = crypto.randomUUID().slice(0, 8);
        const publish = link.sharded ? "SPUBLISH" : "PUBLISH";
        return String(
          await link.eval(APPEND, [stream, epoch], [
            String(this.#size),
            newEpoch,
            data,
            publish,
            channel,
            String(this.#maxAgeMs),
          ]),
        );
      },
      after: async (topic, since) => {
        const position = parsePosition(since);
        if (!position) return undefined;
        const { stream, epoch } = names(topic);
        const reply = await link.eval(AFTER, [stream, epoch], [
          position.epoch,
          position.id,
          String(this.#maxAgeMs),
        ]);
        if (!Array.isArray(reply)) return undefined;
        const [first, count, entries] = reply as [string, string, [string, string[]][]];
        const appended = BigInt(count);
        const oldest = first ? BigInt(first.split("-")[0]) : appended + 1n;
        // `since` is not one Redis gave, or the entry after it was trimmed away.
        if (position.ms > appended || position.ms < oldest - 1n) return undefined;
        return entries.map(([id, fields]): HistoryEntry => ({
          pos: `${position.epoch}:${id}`,
          data: fields[1],
        }));
      },
      listen: async (topic) => {
        const { channel } = names(topic);
        channels.set(channel, topic);
        await link.subscribe(channel, receive(channel));
      },
      unlisten: (topic) => {
        const { channel } = names(topic);
        channels.delete(channel);
        link.unsubscribe(channel).catch(() => {});
      },
      close: () => link.close(),
    };
  }
}
