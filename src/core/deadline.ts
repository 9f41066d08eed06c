/**
 * A connection's one pending deadline: first the opening handshake's, then that of a close the
 * core started.
 *
 * @module
 */

import type { Clock, TimerHandle } from "./clock.ts";

/** What {@link Deadline.untilStalled} watches: the runtime's write buffer. */
interface Buffered {
  readonly bufferedAmount: number;
}

/** At most one timer, which a new deadline replaces. */
export class Deadline {
  readonly #clock: Clock;
  #timer: TimerHandle | undefined;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Runs `onTimeout` after `ms` milliseconds. */
  after(ms: number, onTimeout: () => void): void {
    this.stop();
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      onTimeout();
    }, ms);
  }

  /**
   * Runs `onTimeout` once the peer has taken nothing for `ms` milliseconds. The wait starts
   * again whenever `link`'s buffer has shrunk, so a slow reader still gets everything; once
   * the buffer is empty, the peer has at least one more wait to finish the close.
   */
  untilStalled(link: Buffered, ms: number, onTimeout: () => void): void {
    let buffered = link.bufferedAmount;
    const check = () => {
      // The runtime counts only what the kernel has not taken: a peer that reads slowly shows
      // progress in steps of up to a third of the kernel's send buffer.
      const now = link.bufferedAmount;
      if (now >= buffered) return onTimeout();
      buffered = now;
      this.after(ms, check);
    };
    this.after(ms, check);
  }

  /** Cancels the deadline, if one is set. */
  stop(): void {
    if (this.#timer === undefined) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
