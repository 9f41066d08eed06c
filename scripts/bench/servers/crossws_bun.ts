/**
 * crossws on Bun: its Bun adapter's `websocket` handler given to `Bun.serve`, the two routes
 * upgrading through `ws.handleUpgrade`. Paths are told apart by `peer.namespace` (the request
 * path by default). `/websocket` answers each text message with two replies, `/broadcast`
 * loops over a Set (no pub/sub).
 */

import type { Peer } from "crossws";
import crossws from "crossws/adapters/bun";

const HOST = Bun.env.HOST ?? "127.0.0.1";
const listeners = new Set<Peer>();

const ws = crossws({
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

const server = Bun.serve({
  hostname: HOST,
  port: Number(Bun.env.PORT ?? 9502),
  routes: {
    "/websocket": (req, server) => ws.handleUpgrade(req, server),
    "/broadcast": (req, server) => ws.handleUpgrade(req, server),
  },
  fetch: () => new Response("crossws bun benchmark server\n"),
  websocket: { ...ws.websocket, maxPayloadLength: 2 * 1024 * 1024 },
});

console.log(`listening on http://${HOST}:${server.port}`);
