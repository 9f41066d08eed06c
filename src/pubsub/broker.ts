/**
 * Pub/sub brokers: how `server.publish()` and `server.broadcast()` reach connections held by
 * other servers, in this process (`MemoryBroker`) or in other processes and hosts (the Redis
 * broker in `coro-ws/redis`).
 *
 * @module
 */

import type { FrameData } from "../core/frame.ts";

/**
 * One published message as brokers carry it: a string is sent as text, bytes as binary.
 *
 * @example
 * ```ts
 * import type { BrokerMessage } from "../../mod.ts";
 * const toRoom: BrokerMessage = { topic: "room:1", data: "hi" };
 * const toEveryone: BrokerMessage = { topic: null, data: new Uint8Array([1, 2]) };
 * ```
 */
export interface BrokerMessage {
  /** The topic it was published to; `null` for a broadcast to every connection. */
  readonly topic: string | null;
  /** The payload: a string for a text message, bytes for a binary one. */
  readonly data: FrameData;
  /** Published with `FLAG.COMPRESS`: compressed for the connections that negotiated it. */
  readonly compress?: boolean;
}

/**
 * One server's connection to a broker, made by {@link PubSubBroker.connect}. The server calls
 * `subscribe` when its first connection subscribes to a topic and `unsubscribe` when its last
 * one leaves, so a broker only carries topics somebody listens to. Its methods never throw:
 * a broker reports its failures itself (Redis: the `onError` option).
 *
 * @example A broker that only logs
 * ```ts
 * import type { BrokerLink, BrokerMessage } from "../../mod.ts";
 * const logOnly: BrokerLink = {
 *   subscribe: (topic: string) => console.log("wants", topic),
 *   unsubscribe: (topic: string) => console.log("leaves", topic),
 *   publish: (message: BrokerMessage) => console.log("sends", message),
 *   close: () => Promise.resolve(),
 * };
 * ```
 */
export interface BrokerLink {
  /** This server now has subscribers for `topic`. */
  subscribe(topic: string): void;
  /** This server no longer has subscribers for `topic`. */
  unsubscribe(topic: string): void;
  /** Sends `message` to the other servers; this server has already delivered it locally. */
  publish(message: BrokerMessage): void;
  /** Leaves the broker; nothing is delivered after it resolves. */
  close(): Promise<void>;
  /** Whether the broker is reachable now, for `server.metrics()`; absent if it cannot tell. */
  readonly up?: boolean;
}

/**
 * Carries messages between servers. Give one to `server.useBroker()` on every server that
 * should share topics and broadcasts; each server connects once when it starts.
 *
 * Guarantees every broker must keep: at most once (a message may be lost, never duplicated),
 * in order per publishing server, never delivered back to the server that published it.
 *
 * @example Two servers in one process share topics
 * ```ts
 * import { MemoryBroker, Server } from "../../mod.ts";
 * const broker = new MemoryBroker();
 * const a = new Server("127.0.0.1", 0);
 * const b = new Server("127.0.0.1", 0);
 * a.useBroker(broker);
 * b.useBroker(broker);
 * ```
 */
export interface PubSubBroker {
  /**
   * Joins the broker; messages other servers publish go to `deliver` from then on.
   * Rejects when the broker cannot be reached at all, so a misconfigured server fails at
   * `start()`. `report` is the server's logger, for failures later on (outages, dropped
   * messages) where the broker has no handler of its own.
   */
  connect(
    deliver: (message: BrokerMessage) => void,
    report?: (error: Error) => void,
  ): Promise<BrokerLink>;
}

/**
 * The in-memory broker: servers in one process that use the same `MemoryBroker` reach each
 * other's connections. Delivery is synchronous, so nothing is ever lost or reordered. A server
 * without a broker reaches only its own connections.
 *
 * @example
 * ```ts
 * import { MemoryBroker, Server } from "../../mod.ts";
 * const broker = new MemoryBroker();
 * const servers = [new Server("127.0.0.1", 0), new Server("::1", 0)];
 * for (const server of servers) server.useBroker(broker);
 * ```
 */
export class MemoryBroker implements PubSubBroker {
  readonly #links = new Set<MemoryLink>();

  /** Joins a server to this broker. */
  connect(deliver: (message: BrokerMessage) => void): Promise<BrokerLink> {
    const link = new MemoryLink(this.#links, deliver);
    this.#links.add(link);
    return Promise.resolve(link);
  }
}

class MemoryLink implements BrokerLink {
  readonly #links: Set<MemoryLink>;
  readonly #deliver: (message: BrokerMessage) => void;
  readonly #topics = new Set<string>();

  constructor(links: Set<MemoryLink>, deliver: (message: BrokerMessage) => void) {
    this.#links = links;
    this.#deliver = deliver;
  }

  subscribe(topic: string): void {
    this.#topics.add(topic);
  }

  unsubscribe(topic: string): void {
    this.#topics.delete(topic);
  }

  publish(message: BrokerMessage): void {
    for (const link of this.#links) {
      if (link !== this && (message.topic === null || link.#topics.has(message.topic))) {
        link.#deliver(message);
      }
    }
  }

  close(): Promise<void> {
    this.#links.delete(this);
    return Promise.resolve();
  }
}
