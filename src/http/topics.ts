/**
 * A server's fan-out: the open connections, the topics they subscribe to, and the broker link
 * that carries what is published to the other servers and back.
 *
 * @module
 */

import { FLAG, OPCODE, type Opcode } from "../core/constants.ts";
import { type FrameData, pushFlags } from "../core/frame.ts";
import type { Observer } from "../core/observer.ts";
import { asPayload } from "../core/payload.ts";
import type { BrokerLink, BrokerMessage, PubSubBroker } from "../pubsub/broker.ts";
import { offerMessage, type Response } from "./response.ts";

/** The connections of one server, by topic, and its broker link. */
export class Topics {
  /** Upgraded connections that are open: what `Server.connections` shows. */
  readonly open = new Set<Response>();
  readonly #subscribers = new Map<string, Set<Response>>();
  readonly #observer: Observer;
  #link: BrokerLink | undefined;

  constructor(observer: Observer) {
    this.#observer = observer;
  }

  /** Whether the broker is reachable; undefined without one. */
  get brokerUp(): boolean | undefined {
    return this.#link?.up;
  }

  /** Connects `broker` (if any): what other servers publish reaches this one's connections. */
  async join(broker: PubSubBroker | undefined): Promise<void> {
    this.#link = await broker?.connect(
      (message) => void this.#deliver(message),
      (error) => this.#observer.error(error.message),
    );
  }

  /** Closes the broker link; later publishes stay local instead of failing on a closed link. */
  async leave(): Promise<void> {
    const link = this.#link;
    this.#link = undefined;
    await link?.close();
  }

  /** Adds `response` to `topic`'s subscribers, or removes it. */
  subscribe(response: Response, topic: string, subscribed: boolean): void {
    let subscribers = this.#subscribers.get(topic);
    if (subscribed) {
      if (!subscribers) {
        this.#subscribers.set(topic, subscribers = new Set());
        this.#link?.subscribe(topic);
      }
      subscribers.add(response);
    } else if (subscribers?.delete(response) && subscribers.size === 0) {
      this.#subscribers.delete(topic);
      this.#link?.unsubscribe(topic);
    }
  }

  /**
   * Sends `data` to `topic`'s subscribers (every open connection for `null`), here and through
   * the broker; how many of this server's connections took it. `method` names the caller in
   * errors.
   *
   * @throws {RangeError} for an opcode other than text and binary, or flags other than
   * `FIN` and `COMPRESS`
   */
  publish(
    method: string,
    topic: string | null,
    data: FrameData,
    opcode: Opcode | undefined,
    flags: number,
  ): number {
    if (opcode !== undefined && opcode !== OPCODE.TEXT && opcode !== OPCODE.BINARY) {
      throw new RangeError(
        `Cannot ${method} with opcode ${opcode}: use OPCODE.TEXT or OPCODE.BINARY`,
      );
    }
    const compress = (pushFlags(method, flags) & FLAG.COMPRESS) !== 0;
    // Encoded once here, for every connection.
    const payload = opcode === undefined ? data : asPayload(data, opcode === OPCODE.TEXT);
    const message: BrokerMessage = compress
      ? { topic, data: payload, compress }
      : { topic, data: payload };
    const sent = this.#deliver(message);
    this.#link?.publish(message);
    return sent;
  }

  /** Sends `message` to this server's connections; what the broker calls with other servers'. */
  #deliver(message: BrokerMessage): number {
    const subscribers = message.topic === null ? this.open : this.#subscribers.get(message.topic);
    let sent = 0;
    if (subscribers) {
      const compress = message.compress === true;
      for (const subscriber of subscribers) {
        if (offerMessage(subscriber, message.data, compress)) sent++;
      }
      if (sent < subscribers.size) this.#observer.skippedMessages(subscribers.size - sent);
    }
    return sent;
  }
}
