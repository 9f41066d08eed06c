/**
 * Picks the adapter for the runtime this code runs on: the one place that asks.
 *
 * @module
 */

import type { Adapter } from "./types.ts";

/** The runtime this code runs on (Bun and Deno also look like Node, so they are asked first). */
export const RUNTIME: "bun" | "deno" | "node" = "Bun" in globalThis
  ? "bun"
  : "Deno" in globalThis
  ? "deno"
  : "node";

/**
 * Loads the adapter for Bun, Deno or Node.
 * With `engine` "ws", Deno serves through the Node adapter (`node:http` and `ws`, which Deno
 * runs), which has what `Deno.upgradeWebSocket` lacks.
 *
 * @throws {RangeError} for "ws" on Bun, whose `ws` is Bun's own stand-in
 */
export async function detectAdapter(engine: "native" | "ws" = "native"): Promise<Adapter> {
  if (RUNTIME === "bun") {
    if (engine === "ws") {
      throw new RangeError(
        'Cannot start with websocket_engine "ws" on Bun: it runs on Deno and Node; use "native"',
      );
    }
    return (await import("./bun.ts")).bunAdapter;
  }
  if (RUNTIME === "deno" && engine === "native") return (await import("./deno.ts")).denoAdapter;
  return (await import("./node.ts")).nodeAdapter;
}

/**
 * Loads the adapter for requests a host server hands over: `"node:http"` for an `http.Server`'s
 * events (on Deno and Bun too, whose `node:http` hosts Express and Fastify), `"fetch"` for a
 * fetch-style handler, served by the runtime's own WebSocket (on Node, through
 * `@hono/node-server`: HTTP only, its upgrades come as `"node:http"` events).
 */
export async function detectMountAdapter(entry: "fetch" | "node:http"): Promise<Adapter> {
  if (entry === "fetch" && RUNTIME === "bun") return (await import("./bun.ts")).bunAdapter;
  if (entry === "fetch" && RUNTIME === "deno") return (await import("./deno.ts")).denoAdapter;
  return (await import("./node.ts")).nodeAdapter;
}
