/**
 * Which client adapter this runtime uses, loaded on first use: the project's own engine over
 * the runtime's native sockets on Bun (`Bun.connect`) and Deno (`Deno.connect`), `ws`'s client
 * on Node. The browser bundle replaces this module with adapter_browser.ts, so that it holds no
 * Node code.
 *
 * @module
 */

import { RUNTIME } from "../adapters/detect.ts";
import type { ClientAdapter } from "./contract.ts";

let adapter: Promise<ClientAdapter> | undefined;

/** The client adapter for this runtime. */
export function clientAdapter(): Promise<ClientAdapter> {
  return adapter ??= RUNTIME === "bun"
    ? import("../adapters/client_bun.ts").then((module) => module.bunClientAdapter)
    : RUNTIME === "deno"
    ? import("../adapters/client_deno.ts").then((module) => module.denoClientAdapter)
    : import("../adapters/client_node.ts").then((module) => module.nodeClientAdapter);
}
