/**
 * A `node:net` or `node:tls` socket as the client engine's byte stream (client_engine.ts): on
 * Deno for `wss://` with `ssl_verify_peer: false`, which `Deno.connectTls` cannot do.
 *
 * @module
 */

import { connect as connectTcp, type Socket } from "node:net";
import { connect as connectTls } from "node:tls";
import type { ByteStream, StreamEvents, StreamTarget } from "./client_stream.ts";

/** Opens `target` over `node:net` or `node:tls`. */
export function openNodeStream(target: StreamTarget, events: StreamEvents): Promise<ByteStream> {
  return new Promise((resolve, reject) => {
    const isName = !/^[\d.]+$|:/.test(target.host);
    const socket: Socket = target.tls
      ? connectTls({
        host: target.host,
        port: target.port,
        rejectUnauthorized: target.verifyPeer,
        ...(isName ? { servername: target.host } : {}),
      })
      : connectTcp({ host: target.host, port: target.port });
    let open = false;
    socket.once(target.tls ? "secureConnect" : "connect", () => {
      open = true;
      socket.setNoDelay(true);
      resolve({
        write: (bytes) => void socket.write(bytes),
        get buffered() {
          return socket.writableLength;
        },
        pause: () => void socket.pause(),
        resume: () => void socket.resume(),
        end: () => void socket.end(),
        destroy: () => void socket.destroy(),
      });
    });
    socket.on("data", (chunk: Uint8Array) => events.data(chunk));
    socket.on("drain", () => events.drain());
    socket.on("error", (error) => {
      if (!open) reject(error);
    });
    socket.on("close", () => {
      if (open) events.closed();
    });
  });
}
