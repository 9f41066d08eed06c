/**
 * crossws on Node: its Node adapter (bundled `ws`) behind `node:http`, one hooks object for
 * both paths, told apart by `peer.namespace` (the request path by default). `/websocket`
 * answers each text message with two replies, `/broadcast` loops over a Set.
 */

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import process from "node:process";
import type { Peer } from "crossws";
import crossws from "crossws/adapters/node";

const HOST = process.env.HOST ?? "127.0.0.1";
const PORT = Number(process.env.PORT ?? 9502);

const listeners = new Set<Peer>();

const ws = crossws({
  serverOptions: { maxPayload: 2 * 1024 * 1024 },
  hooks: {
    open(peer) {
      if (peer.namespace === "/broadcast") listeners.add(peer);
    },
    close(peer) {
      listeners.delete(peer);
    },
    message(peer, message) {
      if (typeof message.rawData !== "string") return; // text arrives as a string
      const text = message.text();
      if (peer.namespace === "/websocket") {
        peer.send(`Hello ${text}!`);
        peer.send(`How are you, ${text}?`);
      } else {
        const out = `Server：${text}`;
        for (const listener of listeners) listener.send(out);
      }
    },
  },
});

const server = createServer((_req, res) => {
  res.writeHead(200, { "content-type": "text/plain" }).end("crossws node benchmark server\n");
});
server.on("upgrade", (req, socket, head) => {
  if (req.url === "/websocket" || req.url === "/broadcast") ws.handleUpgrade(req, socket, head);
  else socket.destroy();
});
server.listen(PORT, HOST, () => {
  console.log(`listening on http://${HOST}:${(server.address() as AddressInfo).port}`);
});
