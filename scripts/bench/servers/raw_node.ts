/**
 * Raw baseline on Node: `node:http` plus `ws` (noServer), routing the upgrade by path.
 * `/websocket` answers each text message with two replies, `/broadcast` loops over a Set.
 * `/publish` is the same loop: `ws` has no pub/sub, so a plain loop over its sockets is Node's
 * raw fan-out. `/deflate` echoes each message once, compressed from 128 bytes up; COMPRESSION=1
 * turns on permessage-deflate with coro-ws's parameters (src/adapters/node.ts).
 */

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import process from "node:process";
import { type WebSocket, WebSocketServer } from "ws";

const HOST = process.env.HOST ?? "127.0.0.1";
const PORT = Number(process.env.PORT ?? 9502);

const wss = new WebSocketServer({
  noServer: true,
  maxPayload: 2 * 1024 * 1024,
  perMessageDeflate: process.env.COMPRESSION === "1" && {
    serverNoContextTakeover: true,
    clientNoContextTakeover: true,
    serverMaxWindowBits: 12,
    zlibDeflateOptions: { level: 1, memLevel: 4 },
    threshold: 128,
  },
});
const listeners = new Set<WebSocket>();

function echo(ws: WebSocket): void {
  ws.on("error", console.error); // e.g. over maxPayload; without a listener it would crash
  ws.on("message", (data, isBinary) => {
    if (isBinary) return;
    const text = data.toString();
    ws.send(`Hello ${text}!`);
    ws.send(`How are you, ${text}?`);
  });
}

function broadcast(ws: WebSocket): void {
  ws.on("error", console.error);
  listeners.add(ws);
  ws.on("close", () => listeners.delete(ws));
  ws.on("message", (data, isBinary) => {
    if (isBinary) return;
    const message = `Server：${data}`;
    for (const listener of listeners) listener.send(message);
  });
}

function deflateEcho(ws: WebSocket): void {
  ws.on("error", console.error);
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
}

// No native pub/sub to compare with: `/publish` is the plain loop too.
const routes = new Map([
  ["/websocket", echo],
  ["/broadcast", broadcast],
  ["/publish", broadcast],
  ["/deflate", deflateEcho],
]);

const server = createServer((_req, res) => {
  res.writeHead(200, { "content-type": "text/plain" }).end("raw node benchmark server\n");
});
server.on("upgrade", (req, socket, head) => {
  const onConnection = routes.get(req.url ?? "");
  if (onConnection) wss.handleUpgrade(req, socket, head, onConnection);
  else socket.destroy();
});
server.listen(PORT, HOST, () => {
  console.log(`listening on http://${HOST}:${(server.address() as AddressInfo).port}`);
});
