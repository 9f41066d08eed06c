/**
 * Drops peers that go silent, where the runtime does not do it itself (see
 * `capabilities.idleTimeout`): one interval per idle timeout for all the connections that
 * share it, not one timer per connection.
 *
 * @module
 */

import type { Clock, TimerHandle } from "./clock.ts";

/** What the watch checks: a connection, which decides whether it was silent. */
export interface IdleWatched {
  /** Called every half `seconds`: the peer has been silent for up to that long. */
  checkIdle(seconds: number): void;
}

/** The connections of one server (or one client) under an idle timeout, by timeout. */
export class IdleWatch {
  readonly #clock: Clock;
  readonly #watches = new Map<number, { watched: Set<IdleWatched>; timer: TimerHandle }>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Starts checking `connection` every half `seconds`. */
  add(connection: IdleWatched, seconds: number): void {
    let watch = this.#watches.get(seconds);
    if (!watch) {
      const watched = new Set<IdleWatched>();
      // Checking at half the timeout drops a silent peer after 1 to 1.5 timeouts of silence.
      const timer = this.#clock.setInterval(() => {
        for (const connection of watched) connection.checkIdle(seconds);
      }, seconds * 500);
      watch = { watched, timer };
      this.#watches.set(seconds, watch);
    }
    watch.watched.add(connection);
  }

  /** Stops checking `connection`; the interval goes with the last one under its timeout. */
  delete(connection: IdleWatched, seconds: number): void {
    const watch = this.#watches.get(seconds);
    if (!watch?.watched.delete(connection) || watch.watched.size > 0) return;
    this.#clock.clearInterval(watch.timer);
    this.#watches.delete(seconds);
  }
}
