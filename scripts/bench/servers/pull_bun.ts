/**
 * The pull model's own cost on Bun, without coro-ws: `Bun.serve` whose `message` callback
 * settles the waiting `recv()` of a linear handler per connection (pull.ts). `/websocket`
 * answers each text message with two replies, `/deflate` echoes each message once
 * (uncompressed). The harness's `pull/bun`, its ratio to raw Bun: what any recv()/push() API
 * pays for its promises and resumptions.
 */

import { echo, Pull } from "./pull.ts";

type Message = string | Buffer;
const HOST = Bun.env.HOST ?? "127.0.0.1";

const server = Bun.serve<Pull<Message> | string, never>({
  hostname: HOST,
  port: Number(Bun.env.PORT ?? 9502),
  fetch(req, server) {
    const path = new URL(req.url).pathname;
    if (path !== "/websocket" && path !== "/deflate") {
      return new Response("pull bun benchmark server\n");
    }
    // The path until open(), which replaces it with the connection's Pull.
    if (!server.upgrade(req, { data: path })) {
      return new Response("Upgrade failed", { status: 400 });
    }
  },
  websocket: {
    maxPayloadLength: 2 * 1024 * 1024,
    open(ws) {
      const once = ws.data === "/deflate";
      const pull = new Pull<Message>((data) => ws.send(data));
      ws.data = pull;
      void echo(pull, once);
    },
    message(ws, message) {
      (ws.data as Pull<Message>).receive(message);
    },
  },
});
console.log(`listening on http://${HOST}:${server.port}`);
