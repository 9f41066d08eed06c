/**
 * coro-ws speaking the benchmark protocol, on whichever runtime runs it: `/websocket` is the
 * seed's echo (two replies per message), `/broadcast` sends each message to every client with a
 * loop of `push()` (the Swoole seed's way, kept comparable with earlier runs), `/publish` does
 * the same with the pub/sub API (`ws.subscribe()` and `server.publish()`).
 *
 * `/deflate` echoes each message once with `FLAG.COMPRESS`; COMPRESSION=1 turns on
 * `websocket_compression`, WEBSOCKET_ENGINE=ws Deno's ws engine.
 *
 * With MAX_CONNECTIONS set, that is the server's `max_connections`. With REDIS_URL set the server uses a Redis broker, so `/publish` reaches the subscribers of
 * every server process on that Redis (the harness's "redis" workload).
 *
 * With MOUNT=1 the server does not listen itself: it is mounted into the runtime's own server
 * the way an app would do it, `attach()` to a `node:http` server on Node, `fetch()` from a
 * `Deno.serve` handler on Deno, `fetch()` and `websocket` in a `Bun.serve` on Bun (the
 * harness's "coro-ws-mounted" servers, compared with this one listening).
 */

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import process from "node:process";
import { FLAG, type Response, Server } from "../../../mod.ts";

const server = new Server(process.env.HOST ?? "127.0.0.1", Number(process.env.PORT ?? 9502));
// The harness's compressed workload (Deno's own server cannot negotiate it, its ws engine can),
// and Deno's second engine.
if (process.env.COMPRESSION === "1") server.set({ websocket_compression: true });
if (process.env.WEBSOCKET_ENGINE === "ws") server.set({ websocket_engine: "ws" });
// The harness's idle runs hold more than coro-ws's default limit of 10,000.
if (process.env.MAX_CONNECTIONS) {
  server.set({ max_connections: Number(process.env.MAX_CONNECTIONS) });
}
if (process.env.REDIS_URL) {
  // Imported only here so the other workloads don't load the redis client.
  const { RedisBroker } = await import("../../../src/pubsub/redis.ts");
  server.useBroker(new RedisBroker({ url: process.env.REDIS_URL }));
}

server.handle("/websocket", async (_request, ws) => {
  if (!await ws.upgrade()) return;
  while (true) {
    const frame = await ws.recv();
    if (frame === "" || frame === false) break;
    if (typeof frame.data !== "string") continue;
    await ws.push(`Hello ${frame.data}!`);
    await ws.push(`How are you, ${frame.data}?`);
  }
});

const listeners = new Set<Response>();
server.handle("/broadcast", async (_request, ws) => {
  if (!await ws.upgrade()) return;
  listeners.add(ws);
  try {
    for await (const frame of ws) {
      if (typeof frame.data !== "string") continue;
      const message = `Server：${frame.data}`;
      for (const listener of listeners) void listener.push(message);
    }
  } finally {
    listeners.delete(ws);
  }
});

server.handle("/publish", async (_request, ws) => {
  if (!await ws.upgrade()) return;
  ws.subscribe("all");
  for await (const frame of ws) {
    if (typeof frame.data === "string") server.publish("all", `Server：${frame.data}`);
  }
});

server.handle("/deflate", async (_request, ws) => {
  if (!await ws.upgrade()) return;
  for await (const frame of ws) await ws.push(frame.data, frame.opcode, FLAG.FIN | FLAG.COMPRESS);
});

server.handle("/", (_request, response) => response.end("coro-ws benchmark server\n"));

if (process.env.MOUNT === "1") {
  mount(server, process.env.HOST ?? "127.0.0.1", Number(process.env.PORT ?? 9502));
} else {
  const stopped = server.start();
  const { host, port } = await server.listening;
  console.log(`listening on http://${host}:${port}`);
  await stopped;
}

/** Serves `coro`'s routes from a host server of this runtime listening on `host` and `port`. */
function mount(coro: Server, host: string, port: number): void {
  const listening = (bound: number) => console.log(`listening on http://${host}:${bound}`);
  if ("Bun" in globalThis) {
    const bun = Bun.serve({
      hostname: host,
      port,
      fetch: (request, bunServer) =>
        coro.fetch(request, bunServer) ?? new globalThis.Response("ok"),
      websocket: coro.websocket,
    });
    listening(bun.port!);
  } else if ("Deno" in globalThis) {
    Deno.serve(
      { hostname: host, port, onListen: (address) => listening(address.port) },
      (request, info) => coro.fetch(request, info) ?? new globalThis.Response("ok"),
    );
  } else {
    const http = createServer((_request, response) => response.end("ok"));
    coro.attach(http);
    http.listen(port, host, () => listening((http.address() as AddressInfo).port));
  }
}
