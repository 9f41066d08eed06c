/**
 * The pull model's own cost on Deno, without coro-ws: `Deno.upgradeWebSocket` whose
 * `onmessage` settles the waiting `recv()` of a linear handler per connection (pull.ts).
 * `/websocket` answers each text message with two replies, `/deflate` echoes each message once.
 * The harness's `pull/deno`, its ratio to raw Deno: what any recv()/push() API pays for its
 * promises and resumptions.
 */

import { echo, Pull } from "./pull.ts";

type Message = string | ArrayBuffer;
const HOST = Deno.env.get("HOST") ?? "127.0.0.1";

Deno.serve({
  hostname: HOST,
  port: Number(Deno.env.get("PORT") ?? 9502),
  onListen: ({ port }) => console.log(`listening on http://${HOST}:${port}`),
}, (req) => {
  const { pathname } = new URL(req.url);
  if (pathname !== "/websocket" && pathname !== "/deflate") {
    return new Response("pull deno benchmark server\n");
  }
  const { socket, response } = Deno.upgradeWebSocket(req);
  const pull = new Pull<Message>((data) => socket.send(data));
  socket.onmessage = ({ data }) => pull.receive(data);
  void echo(pull, pathname === "/deflate");
  return response;
});
