/**
 * Picks the adapter for the runtime this code runs on: the one place that asks.
 *
 * @module
 */

import type { Adapter } from "./types.ts";

/** Loads the adapter for Bun, Deno or Node (in that order: Bun and Deno also look like Node). */
export async function detectAdapter(): Promise<Adapter> {
  if ("Bun" in globalThis) return (await import("./bun.ts")).bunAdapter;
  if ("Deno" in globalThis) return (await import("./deno.ts")).denoAdapter;
  return (await import("./node.ts")).nodeAdapter;
}
