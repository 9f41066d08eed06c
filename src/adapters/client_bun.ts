/**
 * The client on Bun: `ws`'s own client, loaded from its files, over Bun's `node:http` and
 * `node:net`. Bun resolves the bare specifier "ws" to a stand-in of its own
 * (https://bun.com/docs/runtime/nodejs-compat) built on its standard `WebSocket`: it has no
 * socket to cork or watch drain on, so {@link NodeLink} cannot drive it. The real `ws` runs
 * on Bun unchanged: refused handshakes with their status and headers, pings, pause, fragments,
 * permessage-deflate and `maxPayload`, as on Node.
 *
 * @module
 */

import { createRequire } from "node:module";
import type { WebSocket } from "ws";
import { wsClientAdapter } from "./client_node.ts";
import type { ClientAdapter } from "./types.ts";

const require = createRequire(import.meta.url);
/** `ws`'s folder: its package.json is the one file its exports map lets a specifier name. */
const folder = require.resolve("ws/package.json").slice(0, -"package.json".length);
const RealWebSocket = require(`${folder}lib/websocket.js`) as typeof WebSocket;

/** The Bun client adapter. */
export const bunClientAdapter: ClientAdapter = wsClientAdapter(RealWebSocket, "bun");
