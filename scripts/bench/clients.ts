#!/usr/bin/env node
/**
 * The client-side benchmark: coro-ws's `Client` against each runtime's own `WebSocket`, both
 * driving the raw Bun echo server (`servers/raw_bun.ts`, pinned to CPU 0) from CPU 1, 100
 * connections with one message in flight each. Prints round trips per second and the ratio of
 * coro-ws to the runtime's own client, per runtime, by the clock and per CPU second the client
 * process used (which other work on the machine does not change); medians of `--rounds`
 * (default 3). A bare pull wrapper around the runtime's `WebSocket` (a queue and a promise) runs
 * too: its ratio is what the pull model itself costs, before anything coro-ws adds. So does a bare RFC 6455 codec
 * over the runtime's own sockets (`Bun.connect`, `Deno.connect`, `node:net`; callbacks, no
 * checks): its ratio is the most an engine of the project's own could reach on that runtime. The
 * Client runs that engine on Deno and Bun, and `ws` on Node.
 *
 * Then it cross-checks `npm run bench`'s handshake workload with a second load generator: the
 * Client on Node, 50 loops that connect, echo once and close, against the raw and the coro-ws
 * server of each runtime.
 *
 * `--compare DIR` also runs the `Client` from another checkout (say `git archive COMMIT | tar -x
 * -C DIR`, with DIR/node_modules linked to this one's) as `coro@compare`, right after this one's
 * in each round, so that code before and after a change is measured under the same load.
 * `--runtimes` and `--libraries` (comma-separated) run a subset; `--handshakes no` skips the
 * cross-check.
 *
 *   node scripts/bench/clients.ts [--rounds 3] [--duration 3] [--warmup 1] [--compare DIR]
 *     [--runtimes bun,deno,node] [--libraries raw,pull,coro,codec] [--handshakes yes|no]
 */

import { spawn } from "node:child_process";
import { join } from "node:path";
import { arg, pinned, ROOT, type Runtime, runtimeCommand, startServer } from "./processes.ts";

const rounds = Number(arg("rounds", "3"));
const duration = arg("duration", "3");
const warmup = arg("warmup", "1");
const RUNTIMES = arg("runtimes", "bun,deno,node").split(",") as Runtime[];
const COMPARE = arg("compare", "");
const LIBRARIES = [
  ...new Set(["raw", ...arg("libraries", "raw,pull,coro,codec").split(",")]),
  ...(COMPARE ? ["coro@compare"] : []),
];
const serverFile = (name: string) => join(ROOT, "scripts/bench/servers", name);

/** What one client run measured: round trips (or handshakes) per second and per CPU second. */
interface Run {
  throughput: number;
  perCpuSecond: number;
}

/** One client run. */
function runClient(
  runtime: Runtime,
  library: string,
  port: number,
  extra: string[] = [],
): Promise<Run> {
  const root = library === "coro@compare" ? COMPARE : ROOT;
  const [program, args] = runtimeCommand(runtime, join(root, "scripts/bench/client_load.ts"));
  const [pinnedProgram, pinnedArgs] = pinned(1, program, [
    ...args,
    "--library",
    library === "coro@compare" ? "coro" : library,
    "--url",
    `ws://127.0.0.1:${port}/websocket`,
    "--duration",
    duration,
    "--warmup",
    warmup,
    ...extra,
  ]);
  const child = spawn(pinnedProgram, pinnedArgs, { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolveRun, reject) => {
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => output += chunk.toString());
    child.on("exit", (code) => {
      const line = output.trim().split("\n").at(-1) ?? "";
      if (code === 0 && line.startsWith("{")) resolveRun(JSON.parse(line));
      else reject(new Error(`${library} client on ${runtime} exited with ${code}: ${output}`));
    });
  });
}

const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1];
const server = await startServer("bun", serverFile("raw_bun.ts"));
console.log(`client benchmark: ${rounds} round(s) × ${duration} s, raw Bun echo server`);
try {
  for (const runtime of RUNTIMES) {
    const runs: Record<string, Run[]> = Object.fromEntries(LIBRARIES.map((name) => [name, []]));
    for (let round = 0; round < rounds; round++) {
      for (const library of LIBRARIES) {
        runs[library].push(await runClient(runtime, library, server.port));
      }
    }
    /** The median ratio of `library` to the runtime's own WebSocket, and each round's. */
    const ratio = (library: string, metric: keyof Run) => {
      const each = runs[library].map((run, i) => run[metric] / runs.raw[i][metric]);
      return `${median(each).toFixed(2)} (rounds ${each.map((r) => r.toFixed(2)).join(" ")})`;
    };
    const rate = (library: string) => median(runs[library].map((run) => run.throughput));
    /** Microseconds of the client's CPU per round trip, the median over the rounds. */
    const cost = (library: string) =>
      (1e6 / median(runs[library].map((run) => run.perCpuSecond))).toFixed(1);
    // The line tests/release/bench.test.ts reads, then one per library run beyond it.
    const all = ["pull", "coro", "codec"].every((name) => LIBRARIES.includes(name));
    if (all) {
      console.log(
        `  ${runtime.padEnd(5)} own WebSocket ${rate("raw")} round trips/s; coro-ws Client ` +
          `${rate("coro")}: ${ratio("coro", "throughput")}, per CPU second ` +
          `${ratio("coro", "perCpuSecond")}; bare pull wrapper ${ratio("pull", "throughput")}, ` +
          `per CPU second ${ratio("pull", "perCpuSecond")}; ` +
          `bare codec over its own sockets ${ratio("codec", "throughput")}, per CPU second ` +
          `${ratio("codec", "perCpuSecond")}`,
      );
      console.log(
        `        client CPU per round trip: own WebSocket ${cost("raw")} µs, bare codec ` +
          `${cost("codec")} µs, bare pull wrapper ${cost("pull")} µs, coro-ws Client ${
            cost("coro")
          } µs`,
      );
    } else {
      console.log(
        `  ${runtime.padEnd(5)} own WebSocket ${rate("raw")} round trips/s, ` +
          `${cost("raw")} µs of client CPU per round trip`,
      );
    }
    for (
      const library of LIBRARIES.filter((name) => name !== "raw" && (!all || name.includes("@")))
    ) {
      console.log(
        `        ${library}: ${rate(library)} round trips/s, ${cost(library)} µs per round ` +
          `trip; by the clock ${ratio(library, "throughput")}, per CPU second ` +
          `${ratio(library, "perCpuSecond")}`,
      );
    }
  }
} finally {
  await server.stop();
}

if (arg("handshakes", "yes") !== "no") {
  console.log("handshakes by coro-ws's Client on Node (50 loops), per server:");
}
for (const runtime of arg("handshakes", "yes") === "no" ? [] : RUNTIMES) {
  const results: Record<string, number[]> = { raw: [], coro: [] };
  for (let round = 0; round < rounds; round++) {
    for (const library of ["raw", "coro"]) {
      const target = await startServer(
        runtime,
        serverFile(library === "raw" ? `raw_${runtime}.ts` : "coro.ts"),
      );
      try {
        const args = ["--mode", "handshake", "--connections", "50"];
        results[library].push((await runClient("node", "coro", target.port, args)).throughput);
      } finally {
        await target.stop();
      }
    }
  }
  const ratios = results.coro.map((value, i) => value / results.raw[i]);
  console.log(
    `  ${runtime.padEnd(5)} raw server ${median(results.raw)}/s, coro-ws server ` +
      `${median(results.coro)}/s: ${median(ratios).toFixed(2)} ` +
      `(per round: ${ratios.map((r) => r.toFixed(2)).join(" ")})`,
  );
}
