#!/usr/bin/env node
/**
 * Where a benchmark server's CPU time goes under load: `node scripts/bench/profile.ts
 * [--runtime bun|deno|node] [--server coro|raw] [--path /websocket] [--connections 100]
 * [--inflight 1] [--size 32] [--duration 5] [--replies 2] [--top 40]`. It starts the server
 * (`servers/coro.ts` or `servers/raw_<runtime>.ts`) pinned to CPU 0 with its CPU profiler on,
 * runs the load generator (`client.ts`) on CPU 1, and prints the self time by function, largest
 * first, then by file, with the throughput the client measured while profiled (the profiler's
 * own cost included, so compare it only with another profiled run).
 *
 * Node and Deno are profiled over the Chrome DevTools Protocol (`--inspect`, `Profiler.start`),
 * Bun with its own `--cpu-prof`, written at exit: profile_probe.ts, preloaded, exits on SIGUSR2.
 * `--save FILE` keeps the `.cpuprofile` for Chrome's DevTools.
 */

import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import process from "node:process";
import { arg, BIN, openInspector, pinned, ROOT, watchOutput } from "./processes.ts";

const RUNTIME = arg("runtime", "bun");
const SERVER = arg("server", "coro");
const TOP = Number(arg("top", "40"));
const SAVE = arg("save", "");
const file = join(
  ROOT,
  "scripts/bench/servers",
  SERVER === "raw" ? `raw_${RUNTIME}.ts` : "coro.ts",
);

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const dir = mkdtempSync(join(tmpdir(), "coro-ws-profile-"));
const INSPECT = "--inspect=127.0.0.1:0";
const command: [string, string[]] = RUNTIME === "node"
  ? [process.execPath, [INSPECT, file]]
  : RUNTIME === "deno"
  ? [join(BIN, "deno"), ["run", "-A", INSPECT, file]]
  : [join(BIN, "bun"), [
    "--cpu-prof",
    `--cpu-prof-dir=${dir}`,
    "--preload",
    join(ROOT, "scripts/bench/profile_probe.ts"),
    file,
  ]];
const [program, args] = pinned(0, ...command);
const server = spawn(program, args, {
  cwd: ROOT,
  env: { ...process.env, HOST: "127.0.0.1", PORT: "0", NO_COLOR: "1" },
  stdio: ["ignore", "pipe", "pipe"],
});
const output = watchOutput(server);
const exited = new Promise<void>((done) => server.on("exit", () => done()));

/** One request over the inspector; resolves with its result. */
let nextId = 0;
function call(socket: WebSocket, method: string, params = {}): Promise<unknown> {
  const id = ++nextId;
  return new Promise((done, fail) => {
    const onMessage = ({ data }: MessageEvent) => {
      const message = JSON.parse(data as string);
      if (message.id !== id) return;
      socket.removeEventListener("message", onMessage);
      if (message.error) fail(new Error(JSON.stringify(message.error)));
      else done(message.result);
    };
    socket.addEventListener("message", onMessage);
    socket.send(JSON.stringify({ id, method, params }));
  });
}

const port = await output.until((text) => /listening on http:\/\/[^:]+:(\d+)/.exec(text)?.[1]);
let devtools: WebSocket | undefined;
if (RUNTIME !== "bun") {
  devtools = await openInspector(output);
  await call(devtools, "Profiler.enable");
  await call(devtools, "Profiler.setSamplingInterval", { interval: 200 });
  await call(devtools, "Profiler.start");
}

const clientArgs = [
  join(ROOT, "scripts/bench/client.ts"),
  "--url",
  `ws://127.0.0.1:${port}${arg("path", "/websocket")}`,
  "--mode",
  "echo",
  "--connections",
  arg("connections", "100"),
  "--inflight",
  arg("inflight", "1"),
  "--size",
  arg("size", "32"),
  "--replies",
  arg("replies", "2"),
  "--duration",
  arg("duration", "5"),
  "--warmup",
  "1",
];
const [clientProgram, clientProgramArgs] = pinned(1, process.execPath, clientArgs);
const client = spawn(clientProgram, clientProgramArgs, { stdio: ["ignore", "pipe", "inherit"] });
let report = "";
client.stdout.on("data", (chunk: Buffer) => report += chunk.toString());
await new Promise((done) => client.on("exit", done));

let profile: CpuProfile;
if (devtools) {
  profile = ((await call(devtools, "Profiler.stop")) as { profile: CpuProfile }).profile;
  devtools.close();
  server.kill();
} else {
  server.kill("SIGUSR2");
  await exited;
  const written = readdirSync(dir).find((name) => name.endsWith(".cpuprofile"));
  if (!written) throw new Error(`Bun wrote no profile:\n${output.text}`);
  profile = JSON.parse(readFileSync(join(dir, written), "utf8"));
}
await exited;
rmSync(dir, { recursive: true, force: true });
if (SAVE) writeFileSync(SAVE, JSON.stringify(profile));

/** Self time in microseconds by node id. */
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + profile.timeDeltas[i]));
const total = [...self.values()].reduce((sum, us) => sum + us, 0);
const where = (node: ProfileNode) => {
  const url = node.callFrame.url.replace(/^file:\/\//, "");
  return url ? relative(ROOT, url) : "";
};
const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
for (const node of profile.nodes) {
  const us = self.get(node.id) ?? 0;
  if (us === 0) continue;
  const name = node.callFrame.functionName || "(anonymous)";
  const at = where(node);
  const key = at ? `${name} ${at}:${node.callFrame.lineNumber + 1}` : name;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  const group = at || (name.startsWith("(") ? name : "(native)");
  byFile.set(group, (byFile.get(group) ?? 0) + us);
}
const show = (title: string, rows: Map<string, number>, count: number) => {
  console.log(`\n${title}`);
  for (const [key, us] of [...rows].sort((a, b) => b[1] - a[1]).slice(0, count)) {
    console.log(`${(100 * us / total).toFixed(1).padStart(6)}%  ${key}`);
  }
};
const measured = report.trim() ? JSON.parse(report.trim().split("\n")[0]) : {};
console.log(
  `${SERVER} on ${RUNTIME}: ${measured.throughput?.toFixed(0)} round trips/s while profiled, ` +
    `${(total / 1e6).toFixed(1)} s sampled`,
);
show("self time by function", byFunction, TOP);
show("self time by file", byFile, 25);
process.exit(0);
