/**
 * Maps parsed from the network. Their keys are the peer's: a plain object would let a key such
 * as `__proto__` replace its prototype, and show inherited names (`constructor`, `toString`)
 * as if the peer had sent them.
 *
 * @module
 */

/** An empty map with no prototype. */
export function createRecord<T>(): Record<string, T> {
  return Object.create(null);
}

/** A map with no prototype holding `entries`; for a repeated key the last value wins. */
export function recordFrom<T>(entries: Iterable<readonly [string, T]>): Record<string, T> {
  const record = createRecord<T>();
  for (const [key, value] of entries) record[key] = value;
  return record;
}
