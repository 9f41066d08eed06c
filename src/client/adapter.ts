/**
 * Which client adapter this runtime uses, loaded on first use: `ws`'s client on Node, Deno and
 * Bun (on Bun loaded from its files, past Bun's stand-in for the "ws" specifier). The browser
 * bundle replaces this module with adapter_browser.ts, so that it holds no Node code.
 *
 * @module
 */

import type { ClientAdapter } from "../adapters/types.ts";

let adapter: Promise<ClientAdapter> | undefined;

/** The client adapter for this runtime. */
export function clientAdapter(): Promise<ClientAdapter> {
  return adapter ??= "Bun" in globalThis
    ? import("../adapters/client_bun.ts").then((module) => module.bunClientAdapter)
    : import("../adapters/client_node.ts").then((module) => module.nodeClientAdapter);
}
