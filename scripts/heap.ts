#!/usr/bin/env node
/**
 * Where an idle WebSocket's memory goes, by object type: `node scripts/heap.ts [--connections N]
 * [--server raw|coro]`. It starts a benchmark server under Node with `--heapsnapshot-signal`,
 * takes a heap snapshot with no connection open and one with N idle ones (the seed protocol's
 * `/websocket`), and prints the self size each object type adds per connection, largest first.
 * Heap only: the runtime's native socket memory shows in RSS (`npm run bench -- --workloads
 * idle`), not here.
 */

import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const arg = (name: string, fallback: string) => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : fallback;
};
const CONNECTIONS = Number(arg("connections", "2000"));
const SERVER = arg("server", "coro");
const file = SERVER === "raw" ? "raw_node.ts" : "coro.ts";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** Self size by "type:name", over every node of the snapshot. */
function sizesByType(path: string): Map<string, { bytes: number; count: number }> {
  const data = JSON.parse(readFileSync(path, "utf8")) as Snapshot;
  const fields = data.snapshot.meta.node_fields;
  const types = data.snapshot.meta.node_types[0];
  const width = fields.length;
  const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
  const sizes = new Map<string, { bytes: number; count: number }>();
  for (let i = 0; i < data.nodes.length; i += width) {
    const type = types[data.nodes[i + typeAt]];
    const name = type === "object" || type === "closure" || type === "native"
      ? data.strings[data.nodes[i + nameAt]]
      : "";
    const key = `${type}${name ? `:${name}` : ""}`;
    const entry = sizes.get(key) ?? { bytes: 0, count: 0 };
    entry.bytes += data.nodes[i + sizeAt];
    entry.count++;
    sizes.set(key, entry);
  }
  return sizes;
}

const dir = mkdtempSync(join(tmpdir(), "coro-ws-heap-"));
const server = spawn(
  process.execPath,
  ["--heapsnapshot-signal=SIGUSR2", join(ROOT, "scripts/bench/servers", file)],
  { cwd: dir, env: { ...process.env, PORT: "0" }, stdio: ["ignore", "pipe", "inherit"] },
);
const port = await new Promise<number>((done) => {
  let output = "";
  server.stdout.on("data", (chunk: Uint8Array) => {
    output += new TextDecoder().decode(chunk);
    const match = /listening on http:\/\/[^:]+:(\d+)/.exec(output);
    if (match) done(Number(match[1]));
  });
});

/** Signals the server and waits for its new snapshot file. */
async function snapshot(): Promise<string> {
  const before = new Set(readdirSync(dir));
  server.kill("SIGUSR2");
  for (;;) {
    await new Promise((done) => setTimeout(done, 500));
    const written = readdirSync(dir).find((name) =>
      name.endsWith(".heapsnapshot") && !before.has(name)
    );
    // Node writes the file whole before it can be read; wait for its size to settle.
    if (written) {
      const path = join(dir, written);
      let size = -1;
      while (size !== readFileSync(path).byteLength) {
        size = readFileSync(path).byteLength;
        await new Promise((done) => setTimeout(done, 500));
      }
      return path;
    }
  }
}

const empty = sizesByType(await snapshot());
const sockets: WebSocket[] = [];
for (let i = 0; i < CONNECTIONS; i++) {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/websocket`);
  await new Promise((done, fail) => {
    socket.onopen = done;
    socket.onerror = fail;
  });
  sockets.push(socket);
}
const held = sizesByType(await snapshot());
for (const socket of sockets) socket.close();
server.kill();
rmSync(dir, { recursive: true, force: true });

const rows = [...held].map(([key, { bytes, count }]) => {
  const base = empty.get(key) ?? { bytes: 0, count: 0 };
  return {
    key,
    bytes: (bytes - base.bytes) / CONNECTIONS,
    count: (count - base.count) / CONNECTIONS,
  };
}).filter((row) => row.bytes > 8).sort((a, b) => b.bytes - a.bytes);
const total = rows.reduce((sum, row) => sum + row.bytes, 0);
console.log(
  `${SERVER} on Node, ${CONNECTIONS} idle connections: heap bytes per connection by type`,
);
console.log(`| type | bytes | objects |\n|---|---:|---:|`);
for (const row of rows.slice(0, 30)) {
  console.log(`| ${row.key} | ${row.bytes.toFixed(0)} | ${row.count.toFixed(2)} |`);
}
console.log(`| **all types above 8 B** | **${total.toFixed(0)}** | |`);
process.exit(0);
