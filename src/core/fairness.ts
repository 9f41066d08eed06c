/**
 * Keeps a handler whose `recv()` and `push()` keep completing at once from starving the
 * others: an awaited promise that is already settled runs as a microtask, so a loop over them
 * never lets I/O or other connections run. Each connection may complete a budget of such calls
 * per event-loop turn; past it, the next one waits for the next turn. The budget is per
 * connection so that many busy connections, each within its share, still run at full speed.
 *
 * @module
 */

type Schedule = (callback: (value?: unknown) => void, value?: unknown) => void;

/**
 * Runs a callback on the event loop's next turn: Node's, Deno's and Bun's `setImmediate`; a
 * browser has none, and its nearest is a timer.
 */
const schedule: Schedule = (globalThis as { setImmediate?: Schedule }).setImmediate ??
  ((callback, value) => setTimeout(callback, 0, value));

/** Immediate completions one connection may have in one event-loop turn. */
export const TURN_BUDGET = 128;

let turn = 0;
let advanceScheduled = false;
let nextTurnTrue: Promise<true> | undefined;
/** What runs when this turn ends (see {@link atTurnEnd}); one shared empty list until then. */
let turnEnd: (() => void)[] = [];

/**
 * Ends the turn: one `setImmediate` per turn serves the turn count and every callback that
 * waits for the turn's end (the send batch's flush, an adapter's), where each took its own.
 * A callback that throws does not keep the others from running; the first error is rethrown.
 */
function advance(): void {
  turn++;
  advanceScheduled = false;
  nextTurnTrue = undefined;
  if (turnEnd.length === 0) return;
  const callbacks = turnEnd;
  turnEnd = [];
  let failure: { error: unknown } | undefined;
  for (const callback of callbacks) {
    try {
      callback();
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure) throw failure.error;
}

/** The number of the current event-loop turn. */
export function currentTurn(): number {
  if (!advanceScheduled) {
    advanceScheduled = true;
    schedule(advance);
  }
  return turn;
}

/**
 * Runs `callback` once this event-loop turn is over, after its I/O callbacks and microtasks.
 * A callback that asks again from there runs at the end of the next turn.
 */
export function atTurnEnd(callback: () => void): void {
  turnEnd.push(callback);
  currentTurn();
}

/** Resolves with `value` on the next turn of the event loop. */
export function nextTurn<T>(value: T): Promise<T> {
  currentTurn(); // Makes sure the turn advances.
  return new Promise((resolve) => schedule(resolve as (value?: unknown) => void, value));
}

/** Resolves true on the next turn of the event loop; one promise serves every caller. */
export function trueNextTurn(): Promise<true> {
  currentTurn(); // Makes sure the turn advances.
  nextTurnTrue ??= new Promise((resolve) => schedule(() => resolve(true)));
  return nextTurnTrue;
}

/**
 * One connection's immediate completions in this event-loop turn: past {@link TURN_BUDGET},
 * the next call waits for the next turn.
 */
export class TurnBudget {
  #turn = -1;
  #completions = 0;

  /** Counts one immediate completion; false once this turn's budget is spent. */
  take(): boolean {
    const now = currentTurn();
    if (now !== this.#turn) {
      this.#turn = now;
      this.#completions = 0;
    }
    return ++this.#completions <= TURN_BUDGET;
  }
}
