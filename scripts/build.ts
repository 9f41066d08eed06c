#!/usr/bin/env node
/**
 * `npm run build` (also `prepack`): the npm package's dist/.
 *
 *   dist/mod.js, dist/redis.js, ...   one ESM bundle per entry point (platform node, source
 *                                     maps, shared code in dist/chunks/, npm dependencies
 *                                     left as imports)
 *   dist/client.browser.js            the browser build of an entry point with a `browser`
 *                                     condition (scripts/browser_bundle.ts)
 *   dist/mod.d.ts, dist/src/...d.ts   declarations from tsc -p tsconfig.build.json
 *
 * The entry points are deno.json's `exports` (see scripts/check_exports.ts, which also makes
 * sure package.json agrees); what is left external is package.json's `dependencies` and
 * `peerDependencies`. Bun runs the TypeScript sources (the `bun` condition); Node, and Deno from npm, run dist/.
 *
 * @module
 */

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import process from "node:process";
import { build } from "esbuild";
import { missingBuildOutputs, readEntryPoints } from "./check_exports.ts";
import { bundleForBrowser } from "./browser_bundle.ts";
import { DENO_TYPES_FILE, ROOT, writeDenoTypes } from "./deno_types.ts";

function bin(name: string): string {
  const local = join(ROOT, "node_modules", ".bin", name);
  return existsSync(local) ? local : name;
}

function fail(message: string): never {
  console.error(`build: ${message}`);
  process.exit(1);
}

const { entries, problems } = readEntryPoints();
if (problems.length > 0) fail(`package.json and deno.json disagree:\n  ${problems.join("\n  ")}`);

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
};
const external = [
  ...Object.keys(pkg.dependencies ?? {}),
  ...Object.keys(pkg.peerDependencies ?? {}),
];

const dist = join(ROOT, "dist");
rmSync(dist, { recursive: true, force: true });

// 1. bundles
const result = await build({
  absWorkingDir: ROOT,
  entryPoints: Object.fromEntries(
    entries.map((e) => [e.js.slice("./dist/".length, -".js".length), e.source]),
  ),
  outdir: dist,
  bundle: true,
  splitting: true, // code two entry points share lives once, so classes stay one identity
  chunkNames: "chunks/[name]-[hash]",
  format: "esm",
  platform: "node",
  target: "node22",
  sourcemap: true,
  keepNames: true, // Logs and `.name` show `Frame`, not the `_Frame` esbuild would rename it to.
  external,
  logLevel: "warning",
  metafile: true,
});
for (const [file, output] of Object.entries(result.metafile.outputs)) {
  if (!file.endsWith(".map")) console.log(`build: ${file} (${output.bytes} bytes)`);
}
for (const entry of entries) {
  if (!entry.browser) continue;
  await bundleForBrowser(entry.source, join(ROOT, entry.browser));
  console.log(`build: ${entry.browser.slice(2)} (browser)`);
}

// 2. declarations (tsc needs the Deno namespace to check the Deno adapter)
const types = spawnSync(bin("deno"), ["types"], { cwd: ROOT, encoding: "utf8" });
if (types.status !== 0) fail(`deno types failed: ${types.stderr || types.error}`);
const problem = writeDenoTypes(types.stdout);
if (problem) fail(problem);
try {
  execFileSync(bin("tsc"), ["-p", "tsconfig.build.json"], { cwd: ROOT, stdio: "inherit" });
} catch {
  fail(`tsc -p tsconfig.build.json failed (declarations; ${relative(ROOT, DENO_TYPES_FILE)})`);
}

const missing = missingBuildOutputs(entries);
if (missing.length > 0) fail(`not built: ${missing.join(", ")}`);
console.log(
  `build: ${entries.map((e) => `${e.name} -> ${e.js.slice(2)} + ${e.types.slice(2)}`).join(", ")}`,
);
