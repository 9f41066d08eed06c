/**
 * Keeps a handler whose `recv()` and `push()` keep completing at once from starving the
 * event loop: an awaited promise that is already settled runs as a microtask, so a loop over
 * them never lets I/O or other connections run. After a budget of such completions in one
 * turn, the next one waits for the next turn of the event loop.
 *
 * @module
 */

import { setImmediate } from "node:timers";

/** Immediate completions allowed in one event-loop turn before one is deferred. */
const TURN_BUDGET = 128;

let completionsThisTurn = 0;
let resetScheduled = false;

function resetBudget(): void {
  completionsThisTurn = 0;
  resetScheduled = false;
}

/** Counts one immediate completion; false when the caller should wait for {@link nextTurn}. */
export function takeTurn(): boolean {
  if (!resetScheduled) {
    resetScheduled = true;
    setImmediate(resetBudget);
  }
  return ++completionsThisTurn <= TURN_BUDGET;
}

/** Resolves on the next turn of the event loop, after pending I/O. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
