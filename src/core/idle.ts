/**
 * Drops peers that go silent, where the runtime does not do it itself (see
 * `capabilities.idleTimeout`): one interval per idle timeout for all the connections that
 * share it, not one timer per connection. A silent peer is pinged once where the runtime can
 * ping, and dropped at the next check if it still says nothing.
 *
 * @module
 */

import type { Clock, TimerHandle } from "./clock.ts";

const NO_BYTES = new Uint8Array(0);

/** What the watch reads of a connection, and asks of it when its peer is silent. */
export interface IdleWatched {
  /** A closing connection is left to its close's own bound. */
  readonly isOpen: boolean;
  /** Set by the connection on anything from the peer; cleared by the watch at each check. */
  heard: boolean;
  /** While reading is paused the runtime reads nothing: the peer may be talking. */
  readonly readPaused: boolean;
  /** Sends a ping, which a live peer answers. */
  ping(data: Uint8Array): boolean;
  /** Drops the connection: its peer sent nothing for `seconds`. */
  dropSilent(seconds: number): void;
}

/** The watched connections of one idle timeout, each with whether it was pinged. */
type Watched = Map<IdleWatched, boolean>;

/** The connections of one server (or one client) under an idle timeout, by timeout. */
export class IdleWatch {
  readonly #clock: Clock;
  readonly #canPing: boolean;
  readonly #watches = new Map<number, { watched: Watched; timer: TimerHandle }>();

  /**
   * @param clock the timers' source
   * @param canPing whether the runtime sends pings (`capabilities.controlFrames`)
   */
  constructor(clock: Clock, canPing: boolean) {
    this.#clock = clock;
    this.#canPing = canPing;
  }

  /** Starts checking `connection` every half `seconds`. */
  add(connection: IdleWatched, seconds: number): void {
    let watch = this.#watches.get(seconds);
    if (!watch) {
      const watched: Watched = new Map();
      // Checking at half the timeout drops a silent peer after 1 to 1.5 timeouts of silence.
      const timer = this.#clock.setInterval(() => {
        for (const [connection, pinged] of watched) {
          this.#check(watched, connection, pinged, seconds);
        }
      }, seconds * 500);
      watch = { watched, timer };
      this.#watches.set(seconds, watch);
    }
    watch.watched.set(connection, false);
  }

  /** Stops checking `connection`; the interval goes with the last one under its timeout. */
  delete(connection: IdleWatched, seconds: number): void {
    const watch = this.#watches.get(seconds);
    if (!watch?.watched.delete(connection) || watch.watched.size > 0) return;
    this.#clock.clearInterval(watch.timer);
    this.#watches.delete(seconds);
  }

  #check(watched: Watched, connection: IdleWatched, pinged: boolean, seconds: number): void {
    if (!connection.isOpen) return;
    if (connection.heard || connection.readPaused) {
      connection.heard = false;
      watched.set(connection, false);
    } else if (!pinged && this.#canPing) {
      watched.set(connection, true);
      connection.ping(NO_BYTES);
    } else {
      connection.dropSilent(seconds);
    }
  }
}
