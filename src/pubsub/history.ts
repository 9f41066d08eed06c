/**
 * Topic history and recovery: a topic published through a {@link TopicHistory} keeps its last
 * messages, each with a position, and a connection that comes back with the last position it
 * saw (`subscribe(ws, topic, { since })`) is sent what it missed, in order and without
 * duplicates, then the live messages; or is told `recovered: false` when the gap cannot be
 * filled, never given part of it silently.
 *
 * Why this file is long: the recovery protocol (subscribe, fetch the gap, then go live without
 * a duplicate or a hole) is one piece, and the in-memory store beside it is what its tests and
 * single-process servers use; the Redis store is redis_history.ts.
 *
 * @module
 */

/** One message of a topic's history: its position and its text. */
export interface HistoryEntry {
  /** `EPOCH:ID`: the epoch changes when the history is lost, the id grows with each message. */
  readonly pos: string;
  /** The message as published. */
  readonly data: string;
}

/**
 * Where histories live and how their messages reach every server: {@link MemoryHistoryStore}
 * in one process, `RedisHistoryStore` (from `coro-ws/redis`) on one Redis or a Redis Cluster.
 * Each server opens one with {@link HistoryStore.open}.
 *
 * @example A store's shape
 * ```ts
 * import type { HistoryStore } from "./history.ts";
 * function describe(store: HistoryStore): string {
 *   return typeof store.open;
 * }
 * ```
 */
export interface HistoryStore {
  /** Joins this store; `listener` gets every topic's new entries, in the order appended. */
  open(listener: HistoryListener): Promise<HistoryLink>;
}

/** What a {@link HistoryLink} tells its server. */
export interface HistoryListener {
  /** A new entry of `topic`, from any server, in the order they were appended. */
  entry(topic: string, entry: HistoryEntry): void;
  /**
   * Live entries may have been missed (the link to the store was down): each connection is
   * caught up from its last position.
   */
  gap(): void;
}

/** One server's connection to a {@link HistoryStore}. */
export interface HistoryLink {
  /** Appends `data` to `topic`'s history and sends it to every server listening; its position. */
  append(topic: string, data: string): Promise<string>;
  /** The entries after `since`, in order; undefined when some of them are lost. */
  after(topic: string, since: string): Promise<HistoryEntry[] | undefined>;
  /** Starts listening to `topic`; resolves once its new entries are sure to arrive. */
  listen(topic: string): Promise<void>;
  /** Stops listening to `topic`. */
  unlisten(topic: string): void;
  /** Leaves the store; nothing is delivered after it resolves. */
  close(): Promise<void>;
}

/** What {@link TopicHistory.subscribe} sends to: a connection (`Response`) or anything like one. */
export interface HistorySubscriber {
  /** Sends one message to the client; what it returns is not waited for. */
  push(data: string): unknown;
}

/** Options of {@link TopicHistory.subscribe}. */
export interface HistorySubscribeOptions {
  /** The last position the connection saw: what came after it is sent first. */
  since?: string;
  /** What each entry is sent as; default JSON `{"pos": POS, "data": DATA}`. */
  format?: (entry: HistoryEntry) => string;
  /**
   * Called once whether the gap was filled, before any entry is sent: where to tell the client
   * (`ws.push(JSON.stringify({ recovered }))`), so that it comes first.
   */
  onRecovered?: (recovered: boolean) => void;
}

/** What {@link TopicHistory.subscribe} returns. */
export interface HistorySubscription {
  /**
   * Whether what came after `since` was sent whole: true also without `since`; false when the
   * history no longer holds it (the cap was passed, or the history was lost).
   */
  readonly recovered: boolean;
  /** Stops sending to the connection. Call it when the connection ends. */
  close(): void;
}

/**
 * Entries arriving while a connection is caught up, held for it; beyond this many it is caught up
 * from the store again instead, so memory stays bounded.
 */
const MAX_HELD = 10_000;

interface Subscriber {
  readonly to: HistorySubscriber;
  readonly format: (entry: HistoryEntry) => string;
  /** The last position sent; undefined: none yet, every live entry goes. */
  last: string | undefined;
  /** Set while it is caught up: live entries wait here, in order. */
  held: HistoryEntry[] | undefined;
  /** More than {@link MAX_HELD} came while it was caught up: read the store again. */
  overflowed: boolean;
  closed: boolean;
}

/**
 * One server's view of the topics with history: publish to them, and subscribe connections with
 * recovery. Topics published here are separate from `server.publish()`'s.
 *
 * @example A chat room that a reconnecting page resumes
 * ```ts
 * import { Server } from "../../mod.ts";
 * import { MemoryHistoryStore, TopicHistory } from "./history.ts";
 * const server = new Server("127.0.0.1", 0);
 * const history = new TopicHistory(new MemoryHistoryStore({ size: 100 }));
 * server.handle("/chat", async (request, ws) => {
 *   if (!await ws.upgrade()) return;
 *   const room = `room:${request.get.room}`;
 *   const subscription = await history.subscribe(ws, room, {
 *     since: request.get.since,
 *     onRecovered: (recovered) => ws.push(JSON.stringify({ recovered })),
 *   });
 *   try {
 *     for await (const frame of ws) await history.publish(room, String(frame.data));
 *   } finally {
 *     subscription.close();
 *   }
 * });
 * ```
 */
export class TopicHistory {
  readonly #store: HistoryStore;
  #link: Promise<HistoryLink> | undefined;
  readonly #topics = new Map<string, Set<Subscriber>>();
  /** Topics whose listen is on its way, so a second subscriber waits for the same one. */
  readonly #listening = new Map<string, Promise<void>>();

  /**
   * Makes one server's view; nothing connects until the first publish or subscribe.
   *
   * @param store where the histories live; one `TopicHistory` per server and store
   * @example
   * ```ts
   * import { MemoryHistoryStore, TopicHistory } from "./history.ts";
   * const history = new TopicHistory(new MemoryHistoryStore());
   * ```
   */
  constructor(store: HistoryStore) {
    this.#store = store;
  }

  /**
   * Appends `data` to `topic`'s history and sends it to every connection subscribed to `topic`
   * on every server of the store, this one included.
   *
   * @returns its position
   * @example
   * ```ts
   * import { MemoryHistoryStore, TopicHistory } from "./history.ts";
   * const history = new TopicHistory(new MemoryHistoryStore());
   * const pos = await history.publish("news", "hello");
   * ```
   */
  async publish(topic: string, data: string): Promise<string> {
    return await (await this.#connect()).append(topic, data);
  }

  /**
   * Sends `topic`'s messages to `to`: first those after `since`, if it is given and the history
   * still holds them all, then the live ones, in order and each once.
   *
   * @example
   * ```ts
   * import { MemoryHistoryStore, TopicHistory } from "./history.ts";
   * const history = new TopicHistory(new MemoryHistoryStore());
   * const first = await history.publish("news", "one");
   * await history.publish("news", "two");
   * const got: string[] = [];
   * const subscription = await history.subscribe({ push: (data) => got.push(data) }, "news", {
   *   since: first,
   *   format: (entry) => entry.data,
   * });
   * // subscription.recovered is true, got is ["two"]
   * subscription.close();
   * ```
   */
  async subscribe(
    to: HistorySubscriber,
    topic: string,
    options: HistorySubscribeOptions = {},
  ): Promise<HistorySubscription> {
    const link = await this.#connect();
    const subscriber: Subscriber = {
      to,
      format: options.format ?? ((entry) => JSON.stringify(entry)),
      last: undefined,
      held: [],
      overflowed: false,
      closed: false,
    };
    let subscribers = this.#topics.get(topic);
    if (!subscribers) this.#topics.set(topic, subscribers = new Set());
    subscribers.add(subscriber);
    let listening = this.#listening.get(topic);
    if (!listening) {
      listening = link.listen(topic);
      this.#listening.set(topic, listening);
      listening.catch(() => this.#listening.delete(topic));
    }
    const close = () => {
      subscriber.closed = true;
      if (!subscribers.delete(subscriber) || subscribers.size > 0) return;
      this.#topics.delete(topic);
      this.#listening.delete(topic);
      link.unlisten(topic);
    };
    let recovered = true;
    try {
      await listening;
      if (options.since !== undefined) {
        subscriber.last = options.since;
        recovered = await this.#catchUp(link, topic, subscriber, options.onRecovered);
      } else {
        options.onRecovered?.(true);
        this.#release(subscriber);
      }
    } catch (error) {
      close();
      throw error;
    }
    return { recovered, close };
  }

  /** Closes this server's link to the store; call it after the server has stopped. */
  async close(): Promise<void> {
    const link = this.#link;
    this.#link = undefined;
    this.#topics.clear();
    this.#listening.clear();
    await (await link)?.close();
  }

  #connect(): Promise<HistoryLink> {
    this.#link ??= this.#store.open({
      entry: (topic, entry) => this.#entry(topic, entry),
      gap: () => this.#gap(),
    });
    return this.#link;
  }

  #entry(topic: string, entry: HistoryEntry): void {
    for (const subscriber of this.#topics.get(topic) ?? []) {
      if (!subscriber.held) this.#send(subscriber, entry);
      else if (subscriber.held.length < MAX_HELD) subscriber.held.push(entry);
      else subscriber.overflowed = true;
    }
  }

  /** Catches every connection up from its last position, in case live entries were lost. */
  async #gap(): Promise<void> {
    const link = await this.#link;
    if (!link) return;
    for (const [topic, subscribers] of this.#topics) {
      for (const subscriber of subscribers) {
        if (subscriber.held || subscriber.last === undefined) continue;
        subscriber.held = [];
        // A gap that cannot be filled now is the client's to find when it reconnects.
        this.#catchUp(link, topic, subscriber).catch(() => this.#release(subscriber));
      }
    }
  }

  /**
   * Sends `subscriber` what came after its last position, then what was held meanwhile.
   *
   * @returns false when the store no longer holds all of it
   */
  async #catchUp(
    link: HistoryLink,
    topic: string,
    subscriber: Subscriber,
    onRecovered?: (recovered: boolean) => void,
  ): Promise<boolean> {
    while (true) {
      const entries = await link.after(topic, subscriber.last!);
      onRecovered?.(entries !== undefined);
      onRecovered = undefined;
      if (!entries) {
        subscriber.last = undefined;
        this.#release(subscriber);
        return false;
      }
      for (const entry of entries) this.#send(subscriber, entry);
      if (!subscriber.overflowed) break;
      // Some live entries were not held: the store has them, read it again.
      subscriber.overflowed = false;
      subscriber.held = [];
    }
    this.#release(subscriber);
    return true;
  }

  /** Sends what was held for `subscriber` and lets live entries through again. */
  #release(subscriber: Subscriber): void {
    const held = subscriber.held ?? [];
    subscriber.held = undefined;
    for (const entry of held) this.#send(subscriber, entry);
  }

  /** Sends `entry` unless `subscriber` has it already. */
  #send(subscriber: Subscriber, entry: HistoryEntry): void {
    if (subscriber.closed) return;
    if (subscriber.last !== undefined && !isAfter(entry.pos, subscriber.last)) return;
    subscriber.last = entry.pos;
    subscriber.to.push(subscriber.format(entry));
  }
}

/** `EPOCH:MS-SEQ` as its parts; undefined when it is not one. */
export function parsePosition(
  pos: string,
): { epoch: string; ms: bigint; seq: bigint; id: string } | undefined {
  const match = /^([^:]+):(\d{1,20})-(\d{1,20})$/.exec(pos);
  if (!match) return undefined;
  return {
    epoch: match[1],
    ms: BigInt(match[2]),
    seq: BigInt(match[3]),
    id: `${match[2]}-${match[3]}`,
  };
}

/** Whether position `a` comes after `b`; a position of another epoch always does. */
function isAfter(a: string, b: string): boolean {
  const [x, y] = [parsePosition(a), parsePosition(b)];
  if (!x || !y || x.epoch !== y.epoch) return true;
  return x.ms > y.ms || (x.ms === y.ms && x.seq > y.seq);
}

/** How much of each topic a store keeps: the last `size` messages, none older than `maxAgeMs`. */
export interface HistoryOptions {
  /** How many messages each topic keeps; default 100. */
  size?: number;
  /**
   * How long a message is kept, in ms; default: as long as it is among the last `size`. A client
   * that missed one older than this is told `recovered: false`.
   */
  maxAgeMs?: number;
}

/** The limits `options` asks for, checked; `maxAgeMs` 0: no age limit. */
export function historyLimits(
  options: HistoryOptions,
  who: string,
): { size: number; maxAgeMs: number } {
  const size = options.size ?? 100;
  if (!Number.isInteger(size) || size < 1) {
    throw new RangeError(`new ${who}(): "size" must be a whole number from 1, got ${size}`);
  }
  const maxAgeMs = options.maxAgeMs ?? 0;
  if (options.maxAgeMs !== undefined && (!Number.isInteger(maxAgeMs) || maxAgeMs < 1)) {
    throw new RangeError(
      `new ${who}(): "maxAgeMs" must be a whole number of ms from 1, got ${maxAgeMs}`,
    );
  }
  return { size, maxAgeMs };
}

/**
 * Histories in this process, for servers in one process and for tests: the same semantics as
 * the Redis store (positions, cap, `recovered: false`), lost with the process.
 *
 * @example
 * ```ts
 * import { MemoryHistoryStore, TopicHistory } from "./history.ts";
 * const store = new MemoryHistoryStore({ size: 50 });
 * const [a, b] = [new TopicHistory(store), new TopicHistory(store)]; // two servers
 * ```
 */
export class MemoryHistoryStore implements HistoryStore {
  readonly #size: number;
  readonly #maxAgeMs: number;
  /** A new one per store: positions of another store or process are never recovered. */
  readonly #epoch = crypto.randomUUID().slice(0, 8);
  readonly #topics = new Map<string, Kept>();
  readonly #links = new Set<{ topics: Set<string>; listener: HistoryListener }>();

  /**
   * Makes an empty store.
   *
   * @param options how much each topic keeps
   * @throws {RangeError} for a size or an age that is not a whole number from 1
   * @example
   * ```ts
   * import { MemoryHistoryStore } from "./history.ts";
   * const store = new MemoryHistoryStore({ size: 10, maxAgeMs: 60_000 });
   * ```
   */
  constructor(options: HistoryOptions = {}) {
    ({ size: this.#size, maxAgeMs: this.#maxAgeMs } = historyLimits(
      options,
      "MemoryHistoryStore",
    ));
  }

  /** Joins a server to this store. */
  open(listener: HistoryListener): Promise<HistoryLink> {
    const member = { topics: new Set<string>(), listener };
    this.#links.add(member);
    return Promise.resolve({
      append: (topic, data) => Promise.resolve(this.#append(topic, data)),
      after: (topic, since) => Promise.resolve(this.#after(topic, since)),
      listen: (topic) => {
        member.topics.add(topic);
        return Promise.resolve();
      },
      unlisten: (topic) => void member.topics.delete(topic),
      close: () => {
        this.#links.delete(member);
        return Promise.resolve();
      },
    });
  }

  #append(topic: string, data: string): string {
    let history = this.#topics.get(topic);
    if (!history) this.#topics.set(topic, history = { entries: [], times: [], seq: 0 });
    const entry = { pos: `${this.#epoch}:${++history.seq}-0`, data };
    history.entries.push(entry);
    history.times.push(Date.now());
    if (history.entries.length > this.#size) this.#drop(history);
    this.#expire(history);
    for (const { topics, listener } of this.#links) {
      if (topics.has(topic)) listener.entry(topic, entry);
    }
    return entry.pos;
  }

  #after(topic: string, since: string): HistoryEntry[] | undefined {
    const position = parsePosition(since);
    const history = this.#topics.get(topic) ?? { entries: [], times: [], seq: 0 };
    if (!position || position.epoch !== this.#epoch || position.seq !== 0n) return undefined;
    this.#expire(history);
    const seq = Number(position.ms);
    if (seq > history.seq) return undefined; // Not a position this store gave.
    const first = history.seq - history.entries.length + 1; // The oldest kept.
    if (seq < first - 1) return undefined; // Some after it were dropped.
    return history.entries.slice(seq - first + 1);
  }

  /** Drops the entries older than `maxAgeMs`, oldest first. */
  #expire(history: Kept): void {
    if (this.#maxAgeMs === 0) return;
    const cutoff = Date.now() - this.#maxAgeMs;
    while (history.times.length > 0 && history.times[0] < cutoff) this.#drop(history);
  }

  #drop(history: Kept): void {
    history.entries.shift();
    history.times.shift();
  }
}

/** A topic's history in memory: its entries, when each was appended, and how many ever were. */
interface Kept {
  entries: HistoryEntry[];
  times: number[];
  seq: number;
}
