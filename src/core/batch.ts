/**
 * Writes a turn's sends in one write per connection: a handler answers in microtasks after
 * the runtime's read callback, one send at a time, and a socket that writes each at once
 * pays a syscall per frame. The core corks a link at its first send in an event-loop turn
 * and flushes it when the turn ends, or sooner once it holds {@link BATCH_BYTES}.
 *
 * @module
 */

import { atTurnEnd } from "./fairness.ts";

/**
 * Bytes a batch holds before it is written at once. A batch completes only once all of it is
 * written, so past this a slow peer's buffer is seen shrinking (the close bound relies on
 * that) and memory stays small; 64 KiB lost nothing in the delivery suite's slow peers.
 */
export const BATCH_BYTES = 64 * 1024;

/** What holds a batch: a connection's outbound side. */
export interface Batched {
  /** Writes what the batch holds. */
  flush(): void;
}

/** The batches held in this turn, flushed together at its end. */
export class SendBatch {
  readonly #held = new Set<Batched>();
  #scheduled = false;
  readonly #flushAll = () => {
    this.#scheduled = false;
    // A flush can drain into more sends, which add their batch again: take each out first,
    // so one added again is flushed again rather than forgotten.
    for (const batched of this.#held) {
      this.#held.delete(batched);
      batched.flush();
    }
  };

  /** Flushes `batched` when this turn ends. */
  add(batched: Batched): void {
    this.#held.add(batched);
    if (this.#scheduled) return;
    this.#scheduled = true;
    atTurnEnd(this.#flushAll);
  }

  /** Forgets `batched`: it flushed early, or its link is gone. */
  delete(batched: Batched): void {
    this.#held.delete(batched);
  }
}
