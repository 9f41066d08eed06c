/**
 * The timers the core arms, passed in rather than taken from the globals, so that the core's
 * unit tests move time themselves instead of sleeping through close and idle timeouts.
 *
 * @module
 */

/** What a clock's `setTimeout()` or `setInterval()` returns, for clearing it again. */
export type TimerHandle = unknown;

/** Timers, as the core uses them: milliseconds, no arguments for the callback. */
export interface Clock {
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  setInterval(callback: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle): void;
}

type TimerId = Parameters<typeof globalThis.clearTimeout>[0];

/** The runtime's own timers. */
export const SYSTEM_CLOCK: Clock = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as TimerId),
  setInterval: (callback, ms) => globalThis.setInterval(callback, ms),
  clearInterval: (handle) => globalThis.clearInterval(handle as TimerId),
};
