/**
 * coro-ws: Swoole's coroutine HTTP and WebSocket server (`Swoole\Coroutine\Http\Server`) for
 * TypeScript, on Deno, Bun and Node. Each connection is one linear `async` handler that pulls
 * messages with `recv()` and sends them with `push()`.
 *
 * @example Echo server
 * ```ts
 * import { Server } from "./mod.ts";
 * const server = new Server("127.0.0.1", 0);
 * server.handle("/websocket", async (request, ws) => {
 *   await ws.upgrade();
 *   while (true) {
 *     const frame = await ws.recv();
 *     if (frame === "" || frame === false) break;
 *     await ws.push(`Hello ${frame.data}!`);
 *   }
 * });
 * server.start();
 * await server.listening;
 * await server.shutdown();
 * ```
 *
 * @module
 */

export { type Address, Server, type ServerStats } from "./src/http/server.ts";
export type { Handler } from "./src/http/dispatch.ts";
export type {
  BunServerLike,
  BunSocket,
  BunWebSocketHandler,
  NodeHttpServer,
  NodeRequest,
  NodeResponse,
  NodeSocket,
} from "./src/http/host.ts";
export { Client, type ClientSettings } from "./src/client/client.ts";
export { WebSocketEndpoint } from "./src/core/endpoint.ts";
export { Request, type ServerInfo } from "./src/http/request.ts";
export {
  type BrokerLink,
  type BrokerMessage,
  MemoryBroker,
  type PubSubBroker,
} from "./src/pubsub/broker.ts";
export type { UploadedFile } from "./src/http/multipart.ts";
export { type CookieAttributes, Response } from "./src/http/response.ts";
export type { PushData, RecvResult } from "./src/core/payload.ts";
export type { ClosedBy } from "./src/core/errors.ts";
export { CloseFrame, Frame, type FrameData } from "./src/core/frame.ts";
export { CLOSE, ERROR, FLAG, OPCODE, type Opcode } from "./src/core/constants.ts";
export {
  ConcurrencyError,
  ConnectionClosedError,
  lastError,
  LifecycleError,
  type LifecycleState,
} from "./src/core/errors.ts";
export type { Settings } from "./src/core/settings.ts";
export type { Logger, ServerMetrics, StatusClass } from "./src/core/observer.ts";
