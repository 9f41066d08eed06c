/**
 * coro-ws mounted into a `Bun.serve` app: the app answers `/health`, coro-ws serves the echo
 * on `/websocket` (each message X gets "Hello X!" and "How are you, X?"; "close" closes), on
 * the app's one port.
 *
 * Runs on: bun
 *
 * Run: `bun examples/mount/bun-serve.ts` (HOST and PORT from the environment, default
 * 127.0.0.1:9502).
 */

import process from "node:process";
import { Server } from "../../mod.ts";

const hostname = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? 9502);

// The app as it was: a fetch handler with its own routes.
function app(request: Request): Response {
  const { pathname } = new URL(request.url);
  if (pathname === "/health") return new Response("ok");
  return new Response("Not Found\n", { status: 404 });
}

// coro-ws's handler, unchanged from a server that listens itself. The address is unused when
// mounted: Bun.serve listens.
const coro = new Server(hostname);
coro.handle("/websocket", async (_request, ws) => {
  if (!await ws.upgrade()) return;
  for await (const frame of ws) {
    if (frame.data === "close") break;
    await ws.push(`Hello ${frame.data}!`);
    await ws.push(`How are you, ${frame.data}?`);
  }
  ws.close();
});

// The lines mounting adds. coro-ws answers its routes (on an upgrade, Bun's server upgrades and
// fetch returns undefined), and undefined leaves the rest to the app...
const server = Bun.serve({
  hostname,
  port,
  fetch: (request, server) => coro.fetch(request, server) ?? app(request),
  // ...and Bun runs the upgraded sockets' events here. To serve another library's WebSockets
  // too, call both libraries' handlers from each of these (see docs/howto/mounting.md).
  websocket: coro.websocket,
});
// Ctrl-C or SIGTERM: coro-ws's clients get 1001, its handlers finish, the process exits 0.
coro.shutdownOnSignals();

const host = server.hostname ?? hostname;
console.log(`listening on http://${host.includes(":") ? `[${host}]` : host}:${server.port}`);
