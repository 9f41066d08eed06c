/**
 * crossws on Bun: its Bun adapter's `websocket` handler given to `Bun.serve`, the routes
 * upgrading through `ws.handleUpgrade`. Paths are told apart by `peer.namespace` (the request
 * path by default). `/websocket` answers each text message with two replies, `/broadcast`
 * loops over a Set, `/publish` uses crossws's pub/sub (Bun's native one underneath).
 */

import crossws from "crossws/adapters/bun";
import { hooks } from "./crossws_hooks.ts";

const HOST = Bun.env.HOST ?? "127.0.0.1";
const ws = crossws({
  hooks,
});

const server = Bun.serve({
  hostname: HOST,
  port: Number(Bun.env.PORT ?? 9502),
  routes: {
    "/websocket": (req, server) => ws.handleUpgrade(req, server),
    "/broadcast": (req, server) => ws.handleUpgrade(req, server),
    "/publish": (req, server) => ws.handleUpgrade(req, server),
  },
  fetch: () => new Response("crossws bun benchmark server\n"),
  websocket: { ...ws.websocket, maxPayloadLength: 2 * 1024 * 1024 },
});

console.log(`listening on http://${HOST}:${server.port}`);
