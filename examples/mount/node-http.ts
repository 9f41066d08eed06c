/**
 * coro-ws mounted into a plain `node:http` server: the host answers `/health`, coro-ws serves
 * the echo on `/websocket` (each message X gets "Hello X!" and "How are you, X?"; "close"
 * closes), on the host's one port.
 *
 * Runs on: node, deno, bun
 *
 * Run: `node examples/mount/node-http.ts` (HOST and PORT from the environment, default
 * 127.0.0.1:9502).
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import process from "node:process";
import { Server } from "../../mod.ts";

const host = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? 9502);

// The app as it was: a request listener with its own routes.
function app(request: IncomingMessage, response: ServerResponse): void {
  if (request.url === "/health") response.end("ok");
  else response.writeHead(404).end("Not Found\n");
}

// coro-ws's handler, unchanged from a server that listens itself. The address is unused when
// mounted: the host listens.
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

// The lines mounting adds. coro-ws answers the HTTP requests on its routes and leaves the rest
// to the app...
const server = createServer((request, response) =>
  coro.handleRequest(request, response) || app(request, response)
);
// ...and takes the WebSocket upgrades on its routes (others get 404).
coro.attach(server);
// Ctrl-C or SIGTERM: coro-ws's clients get 1001, its handlers finish, the process exits 0.
coro.shutdownOnSignals();

server.listen(port, host, () => {
  const { address, port } = server.address() as { address: string; port: number };
  console.log(`listening on http://${address.includes(":") ? `[${address}]` : address}:${port}`);
});
