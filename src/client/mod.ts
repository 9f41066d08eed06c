/**
 * The client alone (`coro-ws/client`): Swoole's coroutine WebSocket client, with nothing of the
 * server. It runs on Node, Deno and Bun, and in browsers, where bundlers pick its browser build
 * (`dist/client.browser.js`, the `browser` condition), which holds no Node code.
 *
 * @example In a browser page, or anywhere
 * ```ts
 * import { Client } from "./mod.ts";
 * async function hello() {
 *   const client = await Client.connect("ws://127.0.0.1:9502/websocket");
 *   await client.push("hello");
 *   const frame = await client.recv(5);
 *   if (frame) console.log(frame.data);
 *   await client.disconnect();
 * }
 * ```
 *
 * @module
 */

export { Client, type ClientSettings } from "./client.ts";
export { WebSocketEndpoint } from "../core/endpoint.ts";
export type { PushData, RecvResult } from "../core/payload.ts";
export type { ClosedBy } from "../core/errors.ts";
export { CloseFrame, Frame, type FrameData } from "../core/frame.ts";
export { CLOSE, ERROR, FLAG, OPCODE, type Opcode } from "../core/constants.ts";
export { ConcurrencyError, ConnectionClosedError, lastError } from "../core/errors.ts";
