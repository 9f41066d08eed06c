/**
 * Picks the adapter for the runtime this code runs on: the one place that asks.
 *
 * @module
 */

import type { Adapter } from "./types.ts";

/**
 * Loads the adapter for Bun, Deno or Node (in that order: Bun and Deno also look like Node).
 * With `engine` "ws", Deno serves through the Node adapter (`node:http` and `ws`, which Deno
 * runs), which has what `Deno.upgradeWebSocket` lacks.
 *
 * @throws {RangeError} for "ws" on Bun, whose `ws` is Bun's own stand-in
 */
export async function detectAdapter(engine: "native" | "ws" = "native"): Promise<Adapter> {
  if ("Bun" in globalThis) {
    if (engine === "ws") {
      throw new RangeError(
        'Cannot start with websocket_engine "ws" on Bun: it runs on Deno and Node; use "native"',
      );
    }
    return (await import("./bun.ts")).bunAdapter;
  }
  if ("Deno" in globalThis && engine === "native") return (await import("./deno.ts")).denoAdapter;
  return (await import("./node.ts")).nodeAdapter;
}
