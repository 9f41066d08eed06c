/**
 * Maps parsed from the network. Their keys are the peer's: a plain object would let a key such
 * as `__proto__` replace its prototype, and show inherited names (`constructor`, `toString`)
 * as if the peer had sent them.
 *
 * @module
 */

/**
 * Makes records whose prototype is an empty object with no prototype of its own: nothing is
 * inherited, and `__proto__` is an ordinary key. Unlike `Object.create(null)`, whose objects V8
 * keeps as hash tables (measured: 6 KiB more per idle WebSocket on Node), these stay in V8's
 * fast mode.
 */
const EmptyRecord = function () {} as unknown as { new (): object; prototype: object };
EmptyRecord.prototype = Object.create(null);

/** An empty map that inherits nothing. */
export function createRecord<T>(): Record<string, T> {
  return new EmptyRecord() as Record<string, T>;
}

/** A map that inherits nothing, holding `entries`; for a repeated key the last value wins. */
export function recordFrom<T>(entries: Iterable<readonly [string, T]>): Record<string, T> {
  const record = createRecord<T>();
  for (const [key, value] of entries) record[key] = value;
  return record;
}
