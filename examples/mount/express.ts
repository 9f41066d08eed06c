/**
 * coro-ws mounted into an Express 5 app: Express answers `/health` and serves the demo page on
 * `/`, coro-ws serves the echo on
 * `/websocket` (each message X gets "Hello X!" and "How are you, X?"; "close" closes), on
 * Express's one port.
 *
 * Runs on: node, deno, bun
 *
 * Run: `node examples/mount/express.ts` (HOST and PORT from the environment, default
 * 127.0.0.1:9502).
 */

import express from "express";
import process from "node:process";
import { Server } from "../../mod.ts";
import { demoPage } from "../page.ts";

const host = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? 9502);

// coro-ws's handler, unchanged from a server that listens itself. The address is unused when
// mounted: Express listens.
const coro = new Server(host);
coro.handle("/websocket", async (_request, ws) => {
  if (!await ws.upgrade()) return;
  for await (const frame of ws) {
    if (frame.data === "close") break;
    await ws.push(`Hello ${frame.data}!`);
    await ws.push(`How are you, ${frame.data}?`);
  }
  ws.close();
});

const app = express();
// The lines mounting adds. First, before any body parser (coro-ws reads its own bodies):
// coro-ws answers the HTTP requests on its routes, Express the rest.
app.use((request, response, next) => coro.handleRequest(request, response) || next());
app.use(express.json());
app.get("/health", (_request, response) => response.send("ok"));
// The demo page, served by the app: its script talks to coro-ws on /websocket.
app.get("/", (_request, response) => response.type("html").send(demoPage("coro-ws in Express")));

const server = app.listen(port, host, () => {
  const { address, port } = server.address() as { address: string; port: number };
  console.log(`listening on http://${address.includes(":") ? `[${address}]` : address}:${port}`);
});
// Express never sees upgrades: coro-ws takes those on its routes from the http.Server.
coro.attach(server);
// Ctrl-C or SIGTERM: coro-ws's clients get 1001, its handlers finish, the process exits 0.
coro.shutdownOnSignals();
