/**
 * crossws on Node: its Node adapter (bundled `ws`) behind `node:http`, one hooks object for
 * every path, told apart by `peer.namespace` (the request path by default). `/websocket`
 * answers each text message with two replies, `/broadcast` loops over a Set, `/publish` uses
 * crossws's pub/sub.
 */

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import process from "node:process";
import crossws from "crossws/adapters/node";
import { hooks } from "./crossws_hooks.ts";

const HOST = process.env.HOST ?? "127.0.0.1";
const PORT = Number(process.env.PORT ?? 9502);

const ws = crossws({
  serverOptions: { maxPayload: 2 * 1024 * 1024 },
  hooks,
});

const server = createServer((_req, res) => {
  res.writeHead(200, { "content-type": "text/plain" }).end("crossws node benchmark server\n");
});
server.on("upgrade", (req, socket, head) => {
  const paths = ["/websocket", "/broadcast", "/publish"];
  if (paths.includes(req.url ?? "")) ws.handleUpgrade(req, socket, head);
  else socket.destroy();
});
server.listen(PORT, HOST, () => {
  console.log(`listening on http://${HOST}:${(server.address() as AddressInfo).port}`);
});
