/**
 * Presence: who is in a topic across every server, with join and leave events. Each entry has
 * a time to live that its server keeps renewing, so the entries of a server that dies expire and
 * are announced as leaves: no ghosts after a crash.
 *
 * @module
 */

/** One member of a topic: the id its server gave it and the info it joined with. */
export interface PresenceMember {
  /** Unique per join. */
  readonly id: string;
  /** What the connection published as its presence, e.g. JSON with a user name. */
  readonly info: string;
}

/** A join or a leave, from any server. A leave carries no info. */
export type PresenceEvent =
  | { readonly type: "join"; readonly id: string; readonly info: string }
  | { readonly type: "leave"; readonly id: string };

/**
 * Where presence lives and how its events reach every server: {@link MemoryPresenceStore} in
 * one process, `RedisPresenceStore` (from `coro-ws/redis`) on one Redis or a Redis Cluster.
 *
 * @example A store's shape
 * ```ts
 * import type { PresenceStore } from "./presence.ts";
 * function describe(store: PresenceStore): string {
 *   return typeof store.open;
 * }
 * ```
 */
export interface PresenceStore {
  /** Joins this store; `listener` gets the events of the topics watched. */
  open(listener: (topic: string, event: PresenceEvent) => void): Promise<PresenceLink>;
}

/** One server's connection to a {@link PresenceStore}. */
export interface PresenceLink {
  /** Adds or renews `id` in `topic` for `ttlMs`; a join event when it was not there. */
  join(topic: string, member: PresenceMember, ttlMs: number): Promise<void>;
  /** Removes `id` from `topic`; a leave event when it was there. */
  leave(topic: string, id: string): Promise<void>;
  /** Removes the entries of `topic` whose time is up, each with a leave event. */
  expire(topic: string): Promise<void>;
  /** How many entries `topic` has whose time is not up, without listing them. */
  count(topic: string): Promise<number>;
  /** The entries of `topic` whose time is not up. */
  list(topic: string): Promise<PresenceMember[]>;
  /** Starts getting `topic`'s events; resolves once they are sure to arrive. */
  watch(topic: string): Promise<void>;
  /** Stops getting `topic`'s events. */
  unwatch(topic: string): void;
  /** Leaves the store. */
  close(): Promise<void>;
}

/** Options of {@link Presence}. */
export interface PresenceOptions {
  /**
   * How long an entry lives unless renewed, in ms: after a server dies, its entries are gone
   * within this time (plus one renewal period, a third of it). Default 30000.
   */
  ttlMs?: number;
}

/** What {@link Presence.join} returns. */
export interface PresenceEntry extends PresenceMember {
  /** Removes the entry (a leave event). Call it when the connection ends. */
  leave(): Promise<void>;
}

/**
 * One server's presence: join connections to topics, count and list every server's members,
 * and watch joins and leaves.
 *
 * @example Who is in the room
 * ```ts
 * import { Server } from "../../mod.ts";
 * import { MemoryPresenceStore, Presence } from "./presence.ts";
 * const server = new Server("127.0.0.1", 0);
 * const presence = new Presence(new MemoryPresenceStore(), { ttlMs: 10_000 });
 * server.handle("/room", async (request, ws) => {
 *   if (!await ws.upgrade()) return;
 *   const room = `room:${request.get.room}`;
 *   const entry = await presence.join(room, JSON.stringify({ name: request.get.name }));
 *   try {
 *     await ws.push(`${await presence.count(room)} here`);
 *     for await (const _frame of ws);
 *   } finally {
 *     await entry.leave();
 *   }
 * });
 * ```
 */
export class Presence {
  readonly #store: PresenceStore;
  readonly #ttlMs: number;
  #link: Promise<PresenceLink> | undefined;
  /** This server's entries, by topic, renewed every third of the TTL. */
  readonly #joined = new Map<string, Map<string, PresenceMember>>();
  readonly #watchers = new Map<string, Set<(event: PresenceEvent) => void>>();
  #renewal: ReturnType<typeof setInterval> | undefined;

  /**
   * Makes one server's presence; nothing connects until it is first used.
   *
   * @param store where presence lives
   * @param options the entries' time to live
   * @throws {RangeError} for a TTL that is not a whole number of ms from 3 to 2^31 - 1
   * @example
   * ```ts
   * import { MemoryPresenceStore, Presence } from "./presence.ts";
   * const presence = new Presence(new MemoryPresenceStore(), { ttlMs: 5000 });
   * ```
   */
  constructor(store: PresenceStore, options: PresenceOptions = {}) {
    const ttlMs = options.ttlMs ?? 30_000;
    if (!Number.isInteger(ttlMs) || ttlMs < 3 || ttlMs > 2 ** 31 - 1) {
      throw new RangeError(
        `new Presence(): "ttlMs" must be a whole number of ms from 3 to ${2 ** 31 - 1}, ` +
          `got ${ttlMs}`,
      );
    }
    this.#store = store;
    this.#ttlMs = ttlMs;
  }

  /**
   * Adds a member to `topic` until its `leave()`, or until this server stops renewing it.
   *
   * @param info what the others see of it, e.g. JSON with a name
   * @example
   * ```ts
   * import { MemoryPresenceStore, Presence } from "./presence.ts";
   * const presence = new Presence(new MemoryPresenceStore());
   * const entry = await presence.join("room:1", '{"name":"ada"}');
   * await entry.leave();
   * await presence.close();
   * ```
   */
  async join(topic: string, info: string): Promise<PresenceEntry> {
    const link = await this.#connect();
    const member = { id: crypto.randomUUID(), info };
    let members = this.#joined.get(topic);
    if (!members) this.#joined.set(topic, members = new Map());
    members.set(member.id, member);
    await link.join(topic, member, this.#ttlMs);
    return {
      ...member,
      leave: async () => {
        if (!members.delete(member.id)) return;
        if (members.size === 0 && this.#joined.get(topic) === members) this.#joined.delete(topic);
        await link.leave(topic, member.id);
      },
    };
  }

  /**
   * How many members `topic` has on every server, without listing them.
   *
   * @example
   * ```ts
   * import { MemoryPresenceStore, Presence } from "./presence.ts";
   * const presence = new Presence(new MemoryPresenceStore());
   * const count = await presence.count("room:1"); // 0
   * ```
   */
  async count(topic: string): Promise<number> {
    return await (await this.#connect()).count(topic);
  }

  /**
   * The members of `topic` on every server.
   *
   * @example
   * ```ts
   * import { MemoryPresenceStore, Presence } from "./presence.ts";
   * const presence = new Presence(new MemoryPresenceStore());
   * await presence.join("room:1", "ada");
   * const names = (await presence.list("room:1")).map((member) => member.info); // ["ada"]
   * await presence.close();
   * ```
   */
  async list(topic: string): Promise<PresenceMember[]> {
    return await (await this.#connect()).list(topic);
  }

  /**
   * Calls `listener` with each join and leave of `topic`, from any server, including the leaves
   * of entries that expired; resolves once events are sure to arrive, with the function that
   * stops it.
   *
   * @example
   * ```ts
   * import { MemoryPresenceStore, Presence } from "./presence.ts";
   * const presence = new Presence(new MemoryPresenceStore());
   * const stop = await presence.watch("room:1", (event) => console.log(event.type, event.id));
   * stop();
   * ```
   */
  async watch(topic: string, listener: (event: PresenceEvent) => void): Promise<() => void> {
    const link = await this.#connect();
    let watchers = this.#watchers.get(topic);
    if (!watchers) {
      this.#watchers.set(topic, watchers = new Set());
      await link.watch(topic);
    }
    watchers.add(listener);
    return () => {
      if (!watchers.delete(listener) || watchers.size > 0) return;
      this.#watchers.delete(topic);
      link.unwatch(topic);
    };
  }

  /**
   * Stops renewing this server's entries, removes them (leave events) and leaves the store.
   * Call it after the server has stopped.
   */
  async close(): Promise<void> {
    clearInterval(this.#renewal);
    const link = this.#link;
    this.#link = undefined;
    if (!link) return;
    const resolved = await link;
    const leaving = [...this.#joined].flatMap(([topic, members]) =>
      [...members.keys()].map((id) => resolved.leave(topic, id))
    );
    this.#joined.clear();
    this.#watchers.clear();
    await Promise.allSettled(leaving);
    await resolved.close();
  }

  #connect(): Promise<PresenceLink> {
    if (!this.#link) {
      this.#link = this.#store.open((topic, event) => {
        for (const listener of this.#watchers.get(topic) ?? []) listener(event);
      });
      this.#renewal = setInterval(() => this.#renew(), Math.floor(this.#ttlMs / 3));
      // A server with nothing else to do may exit: renewing is no reason to stay.
      (this.#renewal as { unref?: () => void }).unref?.();
    }
    return this.#link;
  }

  /** Renews this server's entries and sweeps the expired ones of every topic it knows. */
  async #renew(): Promise<void> {
    const link = await this.#link;
    if (!link) return;
    for (const [topic, members] of this.#joined) {
      for (const member of members.values()) link.join(topic, member, this.#ttlMs).catch(() => {});
    }
    for (const topic of new Set([...this.#joined.keys(), ...this.#watchers.keys()])) {
      link.expire(topic).catch(() => {});
    }
  }
}

/**
 * Presence in this process, for servers in one process and for tests: the same semantics as the
 * Redis store (TTL, events), lost with the process.
 *
 * @example
 * ```ts
 * import { MemoryPresenceStore, Presence } from "./presence.ts";
 * const store = new MemoryPresenceStore();
 * const [a, b] = [new Presence(store), new Presence(store)]; // two servers
 * ```
 */
export class MemoryPresenceStore implements PresenceStore {
  readonly #topics = new Map<string, Map<string, { info: string; expires: number }>>();
  readonly #links = new Set<
    { topics: Set<string>; listener: (topic: string, event: PresenceEvent) => void }
  >();

  /** Joins a server to this store. */
  open(listener: (topic: string, event: PresenceEvent) => void): Promise<PresenceLink> {
    const member = { topics: new Set<string>(), listener };
    this.#links.add(member);
    const done = Promise.resolve();
    return Promise.resolve({
      join: (topic, { id, info }, ttlMs) => {
        let entries = this.#topics.get(topic);
        if (!entries) this.#topics.set(topic, entries = new Map());
        const fresh = !entries.has(id);
        entries.set(id, { info, expires: Date.now() + ttlMs });
        if (fresh) this.#emit(topic, { type: "join", id, info });
        return done;
      },
      leave: (topic, id) => {
        if (this.#topics.get(topic)?.delete(id)) this.#emit(topic, { type: "leave", id });
        return done;
      },
      expire: (topic) => {
        this.#expire(topic);
        return done;
      },
      count: (topic) => Promise.resolve(this.#live(topic).length),
      list: (topic) => Promise.resolve(this.#live(topic)),
      watch: (topic) => {
        member.topics.add(topic);
        return done;
      },
      unwatch: (topic) => void member.topics.delete(topic),
      close: () => {
        this.#links.delete(member);
        return done;
      },
    });
  }

  #live(topic: string): PresenceMember[] {
    const now = Date.now();
    return [...this.#topics.get(topic) ?? []].filter(([, entry]) => entry.expires > now)
      .map(([id, { info }]) => ({ id, info }));
  }

  #expire(topic: string): void {
    const now = Date.now();
    for (const [id, entry] of this.#topics.get(topic) ?? []) {
      if (entry.expires > now) continue;
      this.#topics.get(topic)!.delete(id);
      this.#emit(topic, { type: "leave", id });
    }
  }

  #emit(topic: string, event: PresenceEvent): void {
    for (const { topics, listener } of this.#links) if (topics.has(topic)) listener(topic, event);
  }
}
