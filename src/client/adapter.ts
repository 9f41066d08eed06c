/**
 * Which client adapter this runtime uses, loaded on first use: Node's is `ws`'s; Deno's, Bun's
 * and a browser's are their own `WebSocket`. The browser bundle replaces this module with
 * adapter_browser.ts, so that it holds no Node code.
 *
 * @module
 */

import type { ClientAdapter } from "../adapters/types.ts";

let adapter: Promise<ClientAdapter> | undefined;

/** The client adapter for this runtime. */
export function clientAdapter(): Promise<ClientAdapter> {
  return adapter ??= onNode()
    ? import("../adapters/client_node.ts").then((module) => module.nodeClientAdapter)
    : import("../adapters/client_web.ts").then((module) => module.webClientAdapter);
}

/** Node itself: Deno and Bun also have a `process` that names a Node version. */
function onNode(): boolean {
  const process = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return process?.versions?.node !== undefined && !("Bun" in globalThis) &&
    !("Deno" in globalThis);
}
