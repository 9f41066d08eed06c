#!/usr/bin/env node
/**
 * Runs every JSDoc example (`deno test --doc` over mod.ts and src/), so an example that stops
 * running fails the build, not only one that stops compiling (the `docs` step type-checks them
 * and the Markdown's examples).
 *
 *   node scripts/doc_examples.ts
 *
 * An example that connects to Redis or a Redis Cluster needs one listening where the example
 * says (127.0.0.1:6379, 127.0.0.1:7000); when nothing is, its failure to connect is counted as a
 * skip, with that reason, and every other failure fails the step.
 */

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** A failure that only says the example's Redis is not there. */
const NO_REDIS = /Cannot connect to (Redis|the Redis Cluster) at redis:\/\/127\.0\.0\.1:\d+/;

const deno = existsSync(join(ROOT, "node_modules/.bin/deno"))
  ? join(ROOT, "node_modules/.bin/deno")
  : "deno";
const dir = mkdtempSync(join(tmpdir(), "coro-ws-doc-examples-"));
const junit = join(dir, "report.xml");
const run = spawnSync(deno, ["test", "--doc", "-A", `--junit-path=${junit}`, "mod.ts", "src/"], {
  cwd: ROOT,
  stdio: ["ignore", "pipe", "pipe"],
  encoding: "utf8",
  env: { ...process.env, NO_COLOR: "1" },
  maxBuffer: 64 * 1024 * 1024,
  timeout: 180_000,
});
const report = existsSync(junit) ? readFileSync(junit, "utf8") : "";
rmSync(dir, { recursive: true, force: true });

const cases = [...report.matchAll(/<testcase name="([^"]*)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)]
  .map((m) => ({
    name: m[1].replace(`file://${ROOT}/`, ""),
    failure: /<failure message="([^"]*)"/.exec(m[3] ?? "")?.[1],
  }));
const failed = cases.filter((c) => c.failure && !NO_REDIS.test(c.failure));
const skipped = cases.filter((c) => c.failure && NO_REDIS.test(c.failure));
const passed = cases.filter((c) => !c.failure);

for (const c of skipped) console.log(`skipped ${c.name}: ${c.failure} (no Redis listening)`);
for (const c of failed) console.log(`FAILED ${c.name}: ${c.failure}`);
if (cases.length === 0 || (run.status !== 0 && failed.length === 0 && skipped.length === 0)) {
  // Nothing ran, or deno failed before running (a type error): show its own output.
  process.stdout.write(run.stdout ?? "");
  process.stderr.write(run.stderr ?? "");
  console.log(
    `doc examples: deno test --doc failed (${run.error?.message ?? `exit ${run.status}`})`,
  );
  process.exitCode = 1;
} else {
  if (failed.length > 0) process.stdout.write(run.stdout ?? "");
  console.log(
    `doc examples: ${passed.length} ran, ${failed.length} failed, ${skipped.length} skipped`,
  );
  process.exitCode = failed.length > 0 ? 1 : 0;
}
