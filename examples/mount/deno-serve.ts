/**
 * coro-ws mounted into a `Deno.serve` app: the app answers `/health`, coro-ws serves the echo
 * on `/websocket` (each message X gets "Hello X!" and "How are you, X?"; "close" closes), on
 * the app's one port.
 *
 * Runs on: deno
 *
 * Run: `deno run -A examples/mount/deno-serve.ts` (HOST and PORT from the environment,
 * default 127.0.0.1:9502).
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
// mounted: Deno.serve listens.
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

Deno.serve({
  hostname,
  port,
  onListen: ({ hostname, port }) => {
    console.log(
      `listening on http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`,
    );
  },
  // The line mounting adds: coro-ws answers its routes (upgrades included), and undefined
  // leaves the rest to the app.
}, (request, info) => coro.fetch(request, info) ?? app(request));

// Ctrl-C or SIGTERM: coro-ws's clients get 1001 and its handlers finish, then the process exits.
coro.shutdownOnSignals();
