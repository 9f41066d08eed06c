/**
 * coro-ws mounted into a Fastify 5 app: Fastify answers `/health`, coro-ws serves the echo on
 * `/websocket` (each message X gets "Hello X!" and "How are you, X?"; "close" closes), on
 * Fastify's one port.
 *
 * Runs on: node, deno, bun
 *
 * Run: `node examples/mount/fastify.ts` (HOST and PORT from the environment, default
 * 127.0.0.1:9502).
 */

import Fastify from "fastify";
import process from "node:process";
import { Server } from "../../mod.ts";

const host = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? 9502);

// coro-ws's handler, unchanged from a server that listens itself. The address is unused when
// mounted: Fastify listens.
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

const app = Fastify();
// The lines mounting adds. onRequest runs before Fastify reads the body: coro-ws answers the
// HTTP requests on its routes, and hijack() tells Fastify the reply is not its own (done() then
// runs nothing more for it).
app.addHook("onRequest", (request, reply, done) => {
  if (coro.handleRequest(request.raw, reply.raw)) reply.hijack();
  done();
});
// Fastify never sees upgrades: coro-ws takes those on its routes from the http.Server.
coro.attach(app.server);
// Ctrl-C or SIGTERM: coro-ws's clients get 1001, its handlers finish, the process exits 0.
coro.shutdownOnSignals();

app.get("/health", () => "ok");
const address = await app.listen({ host, port });
console.log(`listening on ${address}`);
