/**
 * A chat app as it runs in production: a login checked before the upgrade (after an await, as
 * a database lookup is), heartbeats that drop a silent peer, metrics for Prometheus, and a
 * graceful stop that cleans up after the server. Each handler learns how its connection ended
 * from the public API alone and logs it.
 *
 * - `/chat?token=TOKEN&room=ROOM`: `alice-token` and `bob-token` log in; anything else gets 401.
 *   Every message goes to the room as "NAME: text".
 * - `/metrics`: the server's metrics in Prometheus's text format.
 * - Each ending prints `ending NAME code=C closedBy=B errCode=E` (peer, self, rule, timeout).
 * - Ctrl-C or SIGTERM: clients get 1001, then `cleanup: N messages relayed` before the exit.
 *
 * Run: `node examples/app.ts`, `deno run -A examples/app.ts` or `bun examples/app.ts` (HOST and
 * PORT from the environment, default 127.0.0.1:9502; IDLE_TIMEOUT in seconds, default 30).
 */

import process from "node:process";
import { Server } from "../mod.ts";

const USERS: Record<string, string> = { "alice-token": "alice", "bob-token": "bob" };

/** A lookup that waits, as one in a database or session store does. */
async function userFor(token: string | undefined): Promise<string | undefined> {
  await new Promise((resolve) => setTimeout(resolve, 5));
  return token === undefined ? undefined : USERS[token];
}

const server = new Server(process.env.HOST ?? "127.0.0.1", Number(process.env.PORT ?? 9502));
server.set({
  // Heartbeats: a peer silent this long is pinged, then dropped.
  websocket_idle_timeout: Number(process.env.IDLE_TIMEOUT ?? 30),
  package_max_length: 64 * 1024,
});
let relayed = 0;

server.handle("/chat", async (request, ws) => {
  const name = await userFor(request.get.token);
  if (!name) {
    ws.status(401);
    ws.end("log in first\n");
    return;
  }
  if (!await ws.upgrade()) return;
  const room = `room:${request.get.room ?? "lobby"}`;
  ws.subscribe(room);
  for await (const frame of ws) {
    relayed++;
    server.publish(room, `${name}: ${frame.data}`);
  }
  console.log(
    `ending ${name} code=${ws.closeCode} closedBy=${ws.closedBy} errCode=${ws.errCode}`,
  );
});

server.handle("/metrics", (_request, response) => {
  response.header("Content-Type", "text/plain; version=0.0.4");
  response.end(server.metricsText());
});

server.shutdownOnSignals();
const stopped = server.start();
const { host, port } = await server.listening;
console.log(`listening on http://${host.includes(":") ? `[${host}]` : host}:${port}`);
await stopped;
// The program's own cleanup: it runs before the process exits.
console.log(`cleanup: ${relayed} messages relayed`);
