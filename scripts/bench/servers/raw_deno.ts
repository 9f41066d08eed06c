/**
 * Raw baseline on Deno: `Deno.serve` plus `Deno.upgradeWebSocket`. `/websocket` answers each
 * text message with two replies, `/broadcast` loops over a Set. `/publish` is the same loop:
 * Deno's WebSockets have no pub/sub, so a plain loop over them is Deno's raw fan-out.
 * `/deflate` echoes each message once, uncompressed: Deno cannot negotiate permessage-deflate.
 */

const HOST = Deno.env.get("HOST") ?? "127.0.0.1";
const listeners = new Set<WebSocket>();
// IDLE_TIMEOUT=S upgrades with Deno's own idle timeout, as coro-ws does (120 s by default): what
// Deno's ping-and-drop of silent peers costs per message.
const idleTimeout = Number(Deno.env.get("IDLE_TIMEOUT") ?? 0) || undefined;

function echo(socket: WebSocket): void {
  socket.onmessage = ({ data }) => {
    if (typeof data !== "string") return;
    socket.send(`Hello ${data}!`);
    socket.send(`How are you, ${data}?`);
  };
}

function echoOnce(socket: WebSocket): void {
  socket.onmessage = ({ data }) => socket.send(data);
}

function broadcast(socket: WebSocket): void {
  socket.onopen = () => listeners.add(socket);
  socket.onclose = () => listeners.delete(socket);
  socket.onmessage = ({ data }) => {
    if (typeof data !== "string") return;
    const message = `Server：${data}`;
    for (const listener of listeners) listener.send(message);
  };
}

Deno.serve({
  hostname: HOST,
  port: Number(Deno.env.get("PORT") ?? 9502),
  onListen: ({ port }) => console.log(`listening on http://${HOST}:${port}`),
}, (req) => {
  const { pathname } = new URL(req.url);
  // No native pub/sub to compare with: `/publish` is the plain loop too.
  const onSocket = pathname === "/websocket"
    ? echo
    : pathname === "/broadcast" || pathname === "/publish"
    ? broadcast
    : pathname === "/deflate"
    ? echoOnce
    : null;
  if (!onSocket || req.headers.get("upgrade") !== "websocket") {
    return new Response("raw deno benchmark server\n");
  }
  const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout });
  onSocket(socket);
  return response;
});
