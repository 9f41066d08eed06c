#!/usr/bin/env node
/**
 * Where an idle WebSocket's memory goes, by object type: `node scripts/heap.ts [--connections N]
 * [--runtime node|bun|deno] [--server raw|coro]`. It starts a benchmark server
 * (`scripts/bench/servers/`: coro.ts, or raw_<runtime>.ts) on that runtime, takes a heap snapshot
 * with no connection open and one with N idle ones (the seed protocol's `/websocket`), and prints
 * the self size each object type adds per connection, largest first.
 *
 * Every runtime gives a V8-format snapshot, read by the same code: Node and Deno run with
 * `--inspect` and are asked over the Chrome DevTools Protocol (`HeapProfiler.takeHeapSnapshot`);
 * Bun runs with scripts/heap_probe.ts preloaded, which writes JavaScriptCore's heap as a V8-format
 * snapshot (`Bun.generateHeapSnapshot("v8")`) on SIGUSR2. Heap only: the runtime's native socket
 * memory shows in RSS (`npm run bench -- --workloads idle`), not here.
 *
 * `--retainers TYPE:NAME` (a row's type, e.g. `closure:Function`) also prints what holds the
 * newest such object: its shortest path of strong references from the snapshot's root.
 */

import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { arg, BIN, openInspector, ROOT, watchOutput } from "./bench/processes.ts";

const CONNECTIONS = Number(arg("connections", "2000"));
const RUNTIME = arg("runtime", "node");
const SERVER = arg("server", "coro");
const RETAINERS = arg("retainers", "");
const NAMES: Record<string, string> = { node: "Node", bun: "Bun", deno: "Deno" };
if (!Object.hasOwn(NAMES, RUNTIME)) throw new Error(`unknown runtime: ${RUNTIME}`);
if (!["raw", "coro"].includes(SERVER)) throw new Error(`unknown server: ${SERVER}`);
const file = join(
  ROOT,
  "scripts/bench/servers",
  SERVER === "raw" ? `raw_${RUNTIME}.ts` : "coro.ts",
);

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[]];
      edge_fields: string[];
      edge_types: [string[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** The "type:name" key of the node at `i` (an index into `nodes`). */
function keyOf(data: Snapshot, i: number): string {
  const fields = data.snapshot.meta.node_fields;
  const type = data.snapshot.meta.node_types[0][data.nodes[i + fields.indexOf("type")]];
  // Deno's V8 names each context by its scope ("system / Context / scope @id"): one type here,
  // as Node's names them.
  const name = type === "object" || type === "closure" || type === "native"
    ? data.strings[data.nodes[i + fields.indexOf("name")]].replace(/ \/ scope @\d+$/, "")
    : "";
  return `${type}${name ? `:${name}` : ""}`;
}

/** Self size by "type:name", over every node of a V8-format snapshot. */
function sizesByType(data: Snapshot): Map<string, { bytes: number; count: number }> {
  const fields = data.snapshot.meta.node_fields;
  const width = fields.length;
  const sizeAt = fields.indexOf("self_size");
  const sizes = new Map<string, { bytes: number; count: number }>();
  for (let i = 0; i < data.nodes.length; i += width) {
    const key = keyOf(data, i);
    const entry = sizes.get(key) ?? { bytes: 0, count: 0 };
    entry.bytes += data.nodes[i + sizeAt];
    entry.count++;
    sizes.set(key, entry);
  }
  return sizes;
}

/** The shortest path of strong references from the root to the newest node with `key`. */
function retainers(data: Snapshot, key: string): string[] {
  const { node_fields, edge_fields, edge_types } = data.snapshot.meta;
  const width = node_fields.length;
  const edgeWidth = edge_fields.length;
  const countAt = node_fields.indexOf("edge_count");
  const [kindAt, nameAt, toAt] = ["type", "name_or_index", "to_node"].map((f) =>
    edge_fields.indexOf(f)
  );
  const firstEdge = new Map<number, number>();
  // The newest such object (the highest id): one of the connections', not the server's own.
  const idAt = node_fields.indexOf("id");
  let target = -1;
  for (let i = 0, edge = 0; i < data.nodes.length; i += width) {
    firstEdge.set(i, edge);
    edge += data.nodes[i + countAt] * edgeWidth;
    const newer = target < 0 || data.nodes[i + idAt] > data.nodes[target + idAt];
    if (newer && keyOf(data, i) === key) target = i;
  }
  if (target < 0) return [`no ${key} in the snapshot`];
  const via = new Map<number, [number, string]>([[0, [-1, ""]]]);
  for (let queue = [0], at = 0; at < queue.length && !via.has(target); at++) {
    const from = queue[at];
    const start = firstEdge.get(from)!;
    for (let e = start; e < start + data.nodes[from + countAt] * edgeWidth; e += edgeWidth) {
      const kind = edge_types[0][data.edges[e + kindAt]];
      const to = data.edges[e + toAt];
      if (kind === "weak" || via.has(to)) continue;
      const name = kind === "element" || kind === "hidden"
        ? `[${data.edges[e + nameAt]}]`
        : data.strings[data.edges[e + nameAt]];
      via.set(to, [from, `${kind} ${name}`]);
      queue.push(to);
    }
  }
  const path: string[] = [];
  for (let node = target; node > 0 && via.has(node);) {
    const [from, edge] = via.get(node)!;
    path.unshift(`  --${edge}--> ${keyOf(data, node)}`);
    node = from;
  }
  return path.length > 0 ? path : [`${key} is not reachable from the root`];
}

const INSPECT = "--inspect=127.0.0.1:0";
/** Where the probe writes Bun's snapshots. */
const snapshotFile = join(tmpdir(), `coro-ws-heap-${process.pid}.heapsnapshot`);
const [program, args] = RUNTIME === "node"
  ? [process.execPath, [INSPECT, file]]
  : RUNTIME === "deno"
  ? [join(BIN, "deno"), ["run", "-A", INSPECT, file]]
  : [join(BIN, "bun"), ["--preload", join(ROOT, "scripts/heap_probe.ts"), file]];
const server = spawn(program, args, {
  cwd: ROOT,
  env: { ...process.env, PORT: "0", NO_COLOR: "1", HEAP_SNAPSHOT: snapshotFile },
  stdio: ["ignore", "pipe", "pipe"],
});

const output = watchOutput(server);
let finished = false;
server.on("exit", (code, signal) => {
  if (finished) return;
  console.error(
    `${output.text}\nthe server exited (${code ?? signal}) before the measurement ended`,
  );
  process.exit(1);
});

/** Asks the inspector for a heap snapshot and joins the chunks it streams before its answer. */
function inspectorSnapshot(socket: WebSocket, id: number): Promise<string> {
  const chunks: string[] = [];
  return new Promise((done, fail) => {
    socket.onmessage = ({ data }) => {
      const message = JSON.parse(data as string);
      if (message.method === "HeapProfiler.addHeapSnapshotChunk") chunks.push(message.params.chunk);
      else if (message.error) fail(new Error(JSON.stringify(message.error)));
      else if (message.id === id) done(chunks.join(""));
    };
    socket.send(JSON.stringify({ id, method: "HeapProfiler.takeHeapSnapshot", params: {} }));
  });
}

/** Signals the preloaded probe (Bun) and reads the snapshot it wrote, its `taken`-th. */
async function probeSnapshot(taken: number): Promise<string> {
  server.kill("SIGUSR2");
  await output.until((text) => text.split("heap snapshot written").length > taken || undefined);
  return readFileSync(snapshotFile, "utf8");
}

const port = await output.until((text) => /listening on http:\/\/[^:]+:(\d+)/.exec(text)?.[1]);
const devtools = RUNTIME === "bun" ? undefined : await openInspector(output);
let taken = 0;
function snapshot(): Promise<string> {
  taken++;
  return devtools ? inspectorSnapshot(devtools, taken) : probeSnapshot(taken);
}

const empty = sizesByType(JSON.parse(await snapshot()));
const sockets: WebSocket[] = [];
for (let i = 0; i < CONNECTIONS; i++) {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/websocket`);
  await new Promise((done, fail) => {
    socket.onopen = done;
    socket.onerror = fail;
  });
  sockets.push(socket);
}
const heldSnapshot = JSON.parse(await snapshot()) as Snapshot;
const held = sizesByType(heldSnapshot);
finished = true;
for (const socket of sockets) socket.close();
devtools?.close();
server.kill();
rmSync(snapshotFile, { force: true });

const rows = [...held].map(([key, { bytes, count }]) => {
  const base = empty.get(key) ?? { bytes: 0, count: 0 };
  return {
    key,
    bytes: (bytes - base.bytes) / CONNECTIONS,
    count: (count - base.count) / CONNECTIONS,
  };
}).filter((row) => row.bytes > 8).sort((a, b) => b.bytes - a.bytes);
const total = rows.reduce((sum, row) => sum + row.bytes, 0);
const title = `${SERVER} on ${NAMES[RUNTIME]}, ${CONNECTIONS} idle connections`;
console.log(`${title}: heap bytes per connection by type`);
console.log(`| type | bytes | objects |\n|---|---:|---:|`);
for (const row of rows.slice(0, 30)) {
  console.log(`| ${row.key} | ${row.bytes.toFixed(0)} | ${row.count.toFixed(2)} |`);
}
console.log(`| **all types above 8 B** | **${total.toFixed(0)}** | |`);
if (RETAINERS) {
  console.log(`\nwhat holds a ${RETAINERS}:\n${retainers(heldSnapshot, RETAINERS).join("\n")}`);
}
process.exit(0);
