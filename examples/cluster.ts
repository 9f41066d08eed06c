/**
 * One server in several processes on one port (reuse-port): the kernel spreads connections
 * over the workers, one per core. WORKERS (default 2) processes of the same runtime run the
 * echo server below; each answers `/` with its process id.
 *
 * Run: `node examples/cluster.ts`, `bun examples/cluster.ts` or
 * `deno run -A --unstable-net examples/cluster.ts` (HOST and PORT from the environment,
 * default 127.0.0.1:9502). A worker exits when the process that started it goes away.
 */

import { spawn } from "node:child_process";
import { createServer } from "node:net";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Server } from "../mod.ts";

const host = process.env.HOST ?? "127.0.0.1";

if (process.env.CORO_WS_WORKER) {
  const server = new Server(host, Number(process.env.PORT), false, true);
  server.handle("/websocket", async (_request, ws) => {
    if (!await ws.upgrade()) return;
    for await (const frame of ws) await ws.push(`Hello ${frame.data} from ${process.pid}!`);
  });
  server.handle("/", (_request, response) => response.end(`served by ${process.pid}\n`));
  // The starter is gone when its end of our stdin closes.
  for (const event of ["end", "close"]) process.stdin.on(event, () => process.exit(0));
  process.stdin.resume();
  void server.start();
  await server.listening;
  console.log(`worker ${process.pid} ready`);
} else {
  const port = Number(process.env.PORT ?? 9502) || await freePort();
  const script = fileURLToPath(import.meta.url);
  const args = "Deno" in globalThis ? ["run", "-A", "--unstable-net", script] : [script];
  const workers = Array.from(
    { length: Number(process.env.WORKERS ?? 2) },
    (_, index) =>
      spawn(process.execPath, args, {
        env: { ...process.env, CORO_WS_WORKER: String(index + 1), PORT: String(port) },
        stdio: ["pipe", "pipe", "inherit"],
      }),
  );
  await Promise.all(workers.map((worker) =>
    new Promise<void>((ready, failed) => {
      worker.stdout!.on("data", (chunk: Uint8Array) => {
        if (new TextDecoder().decode(chunk).includes("ready")) ready();
      });
      worker.on("exit", (code) => failed(new Error(`a worker exited with ${code}`)));
    })
  ));
  console.log(`listening on http://${host}:${port} with ${workers.length} workers`);
}

/** A port that is free now (the workers bind it together next). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, host, () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
