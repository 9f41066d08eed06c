/**
 * Presence on Redis, on one Redis or a Redis Cluster: see {@link Presence}.
 *
 * @module
 */

import type { PresenceEvent, PresenceLink, PresenceStore } from "./presence.ts";
import * as shared from "./_redis_shared.ts";
import { type BackendTarget, openBackend } from "./_redis_backend.ts";

/** Redis's clock in ms, so that servers whose clocks differ agree on what has expired. */
const NOW = `local t = redis.call('TIME'); local now = t[1] * 1000 + math.floor(t[2] / 1000)`;

/**
 * Adds or renews a member: its expiry is its score in the sorted set, its info in the hash; a
 * join event when it is new. KEYS: set, hash. ARGV: id, info, ttl, PUBLISH or SPUBLISH, channel.
 */
const JOIN = `${NOW}
local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if added == 1 then redis.call(ARGV[4], ARGV[5], 'join\\n' .. ARGV[1] .. '\\n' .. ARGV[2]) end
return added`;

/** Removes a member, with a leave event if it was there. KEYS: set, hash. ARGV: id, publish, channel. */
const LEAVE = `
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if removed == 1 then redis.call(ARGV[2], ARGV[3], 'leave\\n' .. ARGV[1]) end
return removed`;

/** Removes the members whose time is up, each with a leave event. KEYS: set, hash. ARGV: publish, channel. */
const EXPIRE = `${NOW}
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, id in ipairs(gone) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call(ARGV[1], ARGV[2], 'leave\\n' .. id)
end
return #gone`;

/** How many members' time is not up: a ZCOUNT, no listing. KEYS: set. */
const COUNT = `${NOW}
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')`;

/** The members whose time is not up, as id, info, id, info... KEYS: set, hash. */
const LIST = `${NOW}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id) or ''
end
return out`;

/**
 * Where presence lives: one Redis (`url`) or a Redis Cluster (`seeds`).
 *
 * @example
 * ```ts
 * import type { RedisPresenceStoreOptions } from "./redis.ts";
 * const options: RedisPresenceStoreOptions = { seeds: ["127.0.0.1:7000"] };
 * ```
 */
export interface RedisPresenceStoreOptions extends shared.RedisTimingOptions {
  /** One Redis, e.g. `redis://127.0.0.1:6379`; the default unless `seeds` is given. */
  url?: string;
  /** Some nodes of a Redis Cluster, as `host:port` or URLs. */
  seeds?: string[];
  /** Prefix of every key and channel; default `coro-ws:`. */
  prefix?: string;
  /** Told about outages of the link that carries events; default `console.error`. */
  onError?: (error: Error) => void;
}

/**
 * Presence on Redis: each topic's members are the sorted set `<prefix>{presence:<topic>}:members`
 * (scored by expiry, so a count is one `ZCOUNT`) and their info the hash `...:info`; joins and
 * leaves go on the channel `<prefix>{presence:<topic>}` (sharded pub/sub on a cluster, where all
 * three share the topic's slot). Expiry uses Redis's clock.
 *
 * @example
 * ```ts
 * import { Presence } from "./presence.ts";
 * import { RedisPresenceStore } from "./redis.ts";
 * const presence = new Presence(new RedisPresenceStore({ url: "redis://127.0.0.1:6379" }));
 * ```
 */
export class RedisPresenceStore implements PresenceStore {
  readonly #target: BackendTarget;
  readonly #settings: shared.BrokerSettings;

  /**
   * Makes a store; nothing connects until a {@link Presence} uses it.
   *
   * @param options where Redis is; see {@link RedisPresenceStoreOptions}
   * @throws {RangeError} for a bad timing
   */
  constructor(options: RedisPresenceStoreOptions = {}) {
    this.#target = { url: options.url, seeds: options.seeds };
    this.#settings = shared.brokerSettings(options, "RedisPresenceStore");
  }

  /** Connects one server; rejects when Redis cannot be reached. */
  async open(listener: (topic: string, event: PresenceEvent) => void): Promise<PresenceLink> {
    const settings = shared.linkSettings(this.#settings, undefined);
    const link = openBackend(this.#target, settings, () => {});
    const publish = link.sharded ? "SPUBLISH" : "PUBLISH";
    const names = (topic: string) => {
      const tag = `${settings.prefix}{presence:${topic}}`;
      return [`${tag}:members`, `${tag}:info`, tag] as const;
    };
    const receive = (topic: string) => (message: string) => {
      const [type, id, ...info] = message.split("\n");
      if (type === "join") listener(topic, { type, id, info: info.join("\n") });
      else if (type === "leave") listener(topic, { type, id });
    };
    await shared.withConnectTimeout(link.connect(), settings.timings.connectTimeoutMs, link.where);
    return {
      async join(topic, { id, info }, ttlMs) {
        const [members, infos, channel] = names(topic);
        await link.eval(JOIN, [members, infos], [id, info, String(ttlMs), publish, channel]);
      },
      async leave(topic, id) {
        const [members, infos, channel] = names(topic);
        await link.eval(LEAVE, [members, infos], [id, publish, channel]);
      },
      async expire(topic) {
        const [members, infos, channel] = names(topic);
        await link.eval(EXPIRE, [members, infos], [publish, channel]);
      },
      async count(topic) {
        return Number(await link.eval(COUNT, [names(topic)[0]], []));
      },
      async list(topic) {
        const [members, infos] = names(topic);
        const flat = await link.eval(LIST, [members, infos], []) as string[];
        const out = [];
        for (let i = 0; i < flat.length; i += 2) out.push({ id: flat[i], info: flat[i + 1] });
        return out;
      },
      watch: (topic) => link.subscribe(names(topic)[2], receive(topic)),
      unwatch: (topic) => void link.unsubscribe(names(topic)[2]).catch(() => {}),
      close: () => link.close(),
    };
  }
}
