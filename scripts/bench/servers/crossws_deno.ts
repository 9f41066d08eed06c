/**
 * crossws on Deno: its Deno adapter's `handleUpgrade` called from `Deno.serve` for the
 * routes. Paths are told apart by `peer.namespace` (the request path by default).
 * `/websocket` answers each text message with two replies, `/broadcast` loops over a Set,
 * `/publish` uses crossws's pub/sub.
 */

import crossws from "crossws/adapters/deno";
import { hooks } from "./crossws_hooks.ts";

const HOST = Deno.env.get("HOST") ?? "127.0.0.1";
const ws = crossws({
  hooks,
});

Deno.serve({
  hostname: HOST,
  port: Number(Deno.env.get("PORT") ?? 9502),
  onListen: ({ port }) => console.log(`listening on http://${HOST}:${port}`),
}, (req, info) => {
  const { pathname } = new URL(req.url);
  if (
    (pathname === "/websocket" || pathname === "/broadcast" || pathname === "/publish") &&
    req.headers.get("upgrade") === "websocket"
  ) return ws.handleUpgrade(req, info);
  return new Response("crossws deno benchmark server\n");
});
