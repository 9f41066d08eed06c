/**
 * Which client adapter this runtime uses, loaded on first use: the project's own engine over
 * the runtime's native sockets on Bun (`Bun.connect`) and Deno (`Deno.connect`), `ws`'s client
 * on Node. The browser bundle replaces this module with adapter_browser.ts, so that it holds no
 * Node code.
 *
 * @module
 */

import type { ClientAdapter } from "../adapters/types.ts";

let adapter: Promise<ClientAdapter> | undefined;

/** The client adapter for this runtime. */
export function clientAdapter(): Promise<ClientAdapter> {
  return adapter ??= "Bun" in globalThis
    ? import("../adapters/client_bun.ts").then((module) => module.bunClientAdapter)
    : "Deno" in globalThis
    ? import("../adapters/client_deno.ts").then((module) => module.denoClientAdapter)
    : import("../adapters/client_node.ts").then((module) => module.nodeClientAdapter);
}
