/**
 * Raw baseline on Bun: `Bun.serve` routes plus its native WebSocket handler. `/websocket`
 * answers each text message with two replies, `/broadcast` loops over a Set (no pub/sub).
 */

import type { ServerWebSocket } from "bun";

type Path = "/websocket" | "/broadcast";

const HOST = Bun.env.HOST ?? "127.0.0.1";
const listeners = new Set<ServerWebSocket<Path>>();

const server = Bun.serve({
  hostname: HOST,
  port: Number(Bun.env.PORT ?? 9502),
  routes: {
    "/websocket": (req, server) => {
      if (!server.upgrade(req, { data: "/websocket" })) {
        return new Response("Upgrade failed", { status: 400 });
      }
    },
    "/broadcast": (req, server) => {
      if (!server.upgrade(req, { data: "/broadcast" })) {
        return new Response("Upgrade failed", { status: 400 });
      }
    },
  },
  fetch: () => new Response("raw bun benchmark server\n"),
  websocket: {
    data: "" as Path,
    maxPayloadLength: 2 * 1024 * 1024,
    open(ws) {
      if (ws.data === "/broadcast") listeners.add(ws);
    },
    close(ws) {
      listeners.delete(ws);
    },
    message(ws, message) {
      if (typeof message !== "string") return;
      if (ws.data === "/websocket") {
        ws.send(`Hello ${message}!`);
        ws.send(`How are you, ${message}?`);
      } else {
        const text = `Server：${message}`;
        for (const listener of listeners) listener.send(text);
      }
    },
  },
});

console.log(`listening on http://${HOST}:${server.port}`);
