/**
 * crossws on Deno: its Deno adapter's `handleUpgrade` called from `Deno.serve` for the two
 * routes. Paths are told apart by `peer.namespace` (the request path by default).
 * `/websocket` answers each text message with two replies, `/broadcast` loops over a Set.
 */

import type { Peer } from "crossws";
import crossws from "crossws/adapters/deno";

const HOST = Deno.env.get("HOST") ?? "127.0.0.1";
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

Deno.serve({
  hostname: HOST,
  port: Number(Deno.env.get("PORT") ?? 9502),
  onListen: ({ port }) => console.log(`listening on http://${HOST}:${port}`),
}, (req, info) => {
  const { pathname } = new URL(req.url);
  if (
    (pathname === "/websocket" || pathname === "/broadcast") &&
    req.headers.get("upgrade") === "websocket"
  ) return ws.handleUpgrade(req, info);
  return new Response("crossws deno benchmark server\n");
});
