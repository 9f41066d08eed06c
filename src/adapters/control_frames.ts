/**
 * What the links over Bun's `ServerWebSocket` and `ws`'s `WebSocket` share: both sockets send
 * pings, pongs and the Close frame themselves, so the link only passes them on.
 *
 * @module
 */

import type { WebSocketLink } from "../core/link.ts";

/** A runtime's socket that frames and sends control frames itself. */
export interface ControlFrameSocket {
  ping(data: Uint8Array): unknown;
  pong(data: Uint8Array): unknown;
  close(code: number, reason: string): unknown;
}

/** The part of a link that passes control frames to such a socket. */
export abstract class PassesControlFrames<Socket extends ControlFrameSocket>
  implements Pick<WebSocketLink, "ping" | "pong" | "close"> {
  /** The runtime's socket. */
  protected ws!: Socket;

  ping(data: Uint8Array): void {
    this.ws.ping(data);
  }

  pong(data: Uint8Array): void {
    this.ws.pong(data);
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }
}
