/**
 * coro-ws mounted into a Hono 4 app: Hono answers `/health`, coro-ws serves the echo on
 * `/websocket` (each message X gets "Hello X!" and "How are you, X?"; "close" closes), on the
 * one port of whichever server runs Hono: `Deno.serve`, `Bun.serve` or `@hono/node-server`.
 *
 * Runs on: node, deno, bun
 *
 * Run: `node examples/mount/hono.ts`, `deno run -A examples/mount/hono.ts` or
 * `bun examples/mount/hono.ts` (HOST and PORT from the environment, default 127.0.0.1:9502).
 */

import { serve } from "@hono/node-server";
import { Hono } from "hono";
import type { Server as HttpServer } from "node:http";
import process from "node:process";
import { Server } from "../../mod.ts";

const hostname = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? 9502);

// coro-ws's handler, unchanged from a server that listens itself. The address is unused when
// mounted: the host listens.
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

const app = new Hono();
// The line mounting adds to the app: coro-ws answers its routes (c.env is Deno's info, Bun's
// server or Node's bindings), and `next()` leaves the rest to Hono.
app.use("/websocket", (c, next) => coro.fetch(c.req.raw, c.env) ?? next());
app.get("/health", (c) => c.text("ok"));

const onListen = (address: { hostname?: string; address?: string; port: number }) => {
  const host = address.hostname ?? address.address ?? hostname;
  console.log(`listening on http://${host.includes(":") ? `[${host}]` : host}:${address.port}`);
};
if ("Deno" in globalThis) {
  Deno.serve({ hostname, port, onListen }, app.fetch);
} else if ("Bun" in globalThis) {
  // Bun upgrades in fetch and runs the sockets' events in `websocket`: coro-ws's handlers.
  const server = Bun.serve({ hostname, port, fetch: app.fetch, websocket: coro.websocket });
  onListen({ hostname: server.hostname, port: server.port! });
} else {
  // @hono/node-server answers HTTP only: coro-ws takes the upgrades from its http.Server.
  coro.attach(serve({ fetch: app.fetch, hostname, port }, onListen) as HttpServer);
}

// Ctrl-C or SIGTERM: coro-ws's clients get 1001 and its handlers finish, then the process exits.
coro.shutdownOnSignals();
