/**
 * adapter.ts for the browser bundle: the browser's own `WebSocket`, with no Node code to load.
 *
 * @module
 */

import { webClientAdapter } from "../adapters/client_web.ts";
import type { ClientAdapter } from "./contract.ts";

const adapter = Promise.resolve(webClientAdapter);

/** The client adapter in a browser. */
export function clientAdapter(): Promise<ClientAdapter> {
  return adapter;
}
