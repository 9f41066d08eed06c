/**
 * Raw baseline on Bun: `Bun.serve` routes plus its native WebSocket handler. `/websocket`
 * answers each text message with two replies, `/broadcast` loops over a Set, `/publish` uses
 * Bun's native pub/sub (`ws.subscribe()` and `server.publish()`, which includes the sender).
 * `/deflate` echoes each message once, compressed from 128 bytes up, with COMPRESSION=1 turning
 * on Bun's permessage-deflate (`true`: shared compressor, no context takeover), as coro-ws does.
 */

import type { ServerWebSocket } from "bun";

type Path = "/websocket" | "/broadcast" | "/publish" | "/deflate";

const HOST = Bun.env.HOST ?? "127.0.0.1";
const listeners = new Set<ServerWebSocket<Path>>();

function upgrade(path: Path) {
  return (req: Request, server: Bun.Server<Path>) => {
    if (!server.upgrade(req, { data: path })) {
      return new Response("Upgrade failed", { status: 400 });
    }
  };
}

const server = Bun.serve({
  hostname: HOST,
  port: Number(Bun.env.PORT ?? 9502),
  routes: {
    "/websocket": upgrade("/websocket"),
    "/broadcast": upgrade("/broadcast"),
    "/publish": upgrade("/publish"),
    "/deflate": upgrade("/deflate"),
  },
  fetch: () => new Response("raw bun benchmark server\n"),
  websocket: {
    data: "" as Path,
    maxPayloadLength: 2 * 1024 * 1024,
    perMessageDeflate: Bun.env.COMPRESSION === "1",
    open(ws) {
      if (ws.data === "/broadcast") listeners.add(ws);
      else if (ws.data === "/publish") ws.subscribe("all");
    },
    close(ws) {
      listeners.delete(ws);
    },
    message(ws, message) {
      if (ws.data === "/deflate") {
        ws.send(message, message.length >= 128);
        return;
      }
      if (typeof message !== "string") return;
      if (ws.data === "/websocket") {
        ws.send(`Hello ${message}!`);
        ws.send(`How are you, ${message}?`);
      } else if (ws.data === "/publish") {
        server.publish("all", `Server：${message}`);
      } else {
        const text = `Server：${message}`;
        for (const listener of listeners) listener.send(text);
      }
    },
  },
});

console.log(`listening on http://${HOST}:${server.port}`);
