/**
 * Preloaded by scripts/heap.ts into a benchmark server under Bun (`bun --preload`), whose inspector
 * speaks WebKit's protocol rather than the Chrome one heap.ts uses on Node and Deno: on SIGUSR2 it collects garbage, writes a V8-format heap
 * snapshot to `$HEAP_SNAPSHOT` and prints `heap snapshot written`. The server is untouched.
 */

import { writeFileSync } from "node:fs";
import process from "node:process";

const path = process.env.HEAP_SNAPSHOT;
if (!path) throw new Error("HEAP_SNAPSHOT (the file to write) is not set");

process.on("SIGUSR2", () => {
  Bun.gc(true);
  writeFileSync(path, new Uint8Array(Bun.generateHeapSnapshot("v8", "arraybuffer")));
  console.log("heap snapshot written");
});
