#!/usr/bin/env node
/**
 * Project test runner (Node 24, no dependencies).
 *
 *   npm test                                  # everything
 *   npm test -- --only=node                   # only the Node test run (comma separated list of
 *                                             #   steps: tsc, lint, fmt, docs, doclint,
 *                                             #   exports, errors, publish, static (all eight), node,
 *                                             #   deno, bun, deno-ws)
 *   npm test -- tests/core tests/http/http.test.ts  # only these test files and folders
 *   npm test -- --only=deno,bun tests/foo.test.ts
 *
 * Environment:
 *   TEST_DIR=dir             where to look for *.test.ts files, in subfolders too (default "tests")
 *   TEST_STEP_TIMEOUT=secs   overall time limit per step (default 240); the step is killed and
 *                            counted as failed when it is exceeded
 *
 * Steps: tsc --noEmit, deno lint, deno fmt --check, deno check --doc-only (every code
 * example in README.md, the porting guide and the JSDoc), deno doc --lint (JSDoc on every
 * public symbol), scripts/check_exports.ts (package.json and deno.json
 * export the same entry points), scripts/error_table.ts --check (docs/errors.md matches the
 * error codes and every code is set somewhere), deno publish --dry-run (what JSR would get, slow types
 * included), then the same test files under
 * `node --test`, `deno test` and `bun test`, and the engine suite once more on Deno with
 * `websocket_engine: "ws"` (deno-ws). The test runs happen even if a static check fails;
 * the exit code reflects every failure. The last line printed is
 * `N passed, N failed` summed over the three runtimes (+1 failed per failed check).
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";
import { DENO_TYPES_FILE, writeDenoTypes } from "./deno_types.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const STATIC_STEPS = [
  "tsc",
  "lint",
  "fmt",
  "docs",
  "doclint",
  "exports",
  "errors",
  "reference",
  "doctest",
  "publish",
] as const;
/** `deno-ws`: Deno again, serving through `websocket_engine: "ws"`, on {@link ENGINE_SUITE}. */
const RUNTIMES = ["node", "deno", "bun", "deno-ws"] as const;
/**
 * The files whose fixtures take the engine from SETTINGS (`TEST_ENGINE` in tests/helpers.ts):
 * the protocol, hostile-peer, delivery, uploads and fuzz suites. compression.test.ts runs both Deno engines
 * itself.
 */
const ENGINE_SUITE = [
  "conformance/conformance",
  "conformance/delivery",
  "conformance/endings",
  "robustness/hostile",
  "robustness/uploads",
  "robustness/fuzz",
].map((name) => `tests/${name}.test.ts`);
type StaticStep = (typeof STATIC_STEPS)[number];
type Runtime = (typeof RUNTIMES)[number];
type Step = StaticStep | Runtime;

/** The Markdown files in `dir` (relative to the root), for deno check, which takes no folders of them. */
function markdownIn(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).filter((name) => name.endsWith(".md")).map((name) =>
    `${dir}/${name}`
  );
}

const TIMEOUT_MS = Number(process.env.TEST_STEP_TIMEOUT ?? "240") * 1000;
/** Per-test time limit given to node and bun (bun's default of 5 s is too short for I/O tests). */
const PER_TEST_TIMEOUT_MS = 60_000;
/**
 * The static checks that are one command each (tsc also needs the Deno types first): `docs`
 * type-checks every code example in the docs, `doclint` finds public symbols without JSDoc,
 * `publish` is what `deno publish` would check.
 */
const STATIC_COMMANDS: Record<
  Exclude<StaticStep, "tsc">,
  {
    tool: "deno" | "node";
    args: string[];
    label: string;
    /** Warnings held back (each with its "at" line), counted in one line instead. */
    hide?: { pattern: RegExp; why: string };
  }
> = {
  lint: { tool: "deno", args: ["lint"], label: "deno lint" },
  fmt: { tool: "deno", args: ["fmt", "--check"], label: "deno fmt --check" },
  docs: {
    tool: "deno",
    args: [
      "check",
      "--doc-only",
      "README.md",
      ...["docs/tutorial", "docs/howto", "docs/reference", "docs/topics"].flatMap(markdownIn),
      "mod.ts",
      "src/",
    ],
    label: "deno check --doc-only",
  },
  doclint: {
    tool: "deno",
    args: ["doc", "--lint", "mod.ts", "src/pubsub/redis.ts", "src/client/mod.ts"],
    label: "deno doc --lint",
    hide: {
      pattern: /^Warning Failed resolving types\./,
      why: '"Failed resolving types": deno doc cannot follow the relative references inside ' +
        "the @types/node and bun-types packages, which the lint does not need",
    },
  },
  exports: { tool: "node", args: ["scripts/check_exports.ts"], label: "check_exports" },
  errors: {
    tool: "node",
    args: ["scripts/error_table.ts", "--check"],
    label: "error_table --check",
  },
  reference: {
    tool: "node",
    args: ["scripts/reference.ts", "--check"],
    label: "reference --check",
  },
  doctest: { tool: "node", args: ["scripts/doc_examples.ts"], label: "doc examples" },
  publish: {
    tool: "deno",
    args: ["publish", "--dry-run", "--allow-dirty"],
    label: "deno publish --dry-run",
  },
};

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  output: string;
  /** Lines held back by the `hide` option. */
  hidden: number;
  error?: string;
}

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

interface RuntimeReport extends Counts {
  runtime: Runtime;
  ran: boolean;
  note: string;
}

// ---------------------------------------------------------------------------------------------
// arguments

function usage(message: string): never {
  console.error(`scripts/test.ts: ${message}`);
  console.error(
    `usage: node scripts/test.ts [--only=${[...STATIC_STEPS, "static", ...RUNTIMES].join("|")}` +
      `[,...]] [test files...]`,
  );
  process.exit(2);
}

function parseArgs(argv: string[]): { steps: Set<Step>; files: string[] } {
  const steps = new Set<Step>();
  const files: string[] = [];
  let only = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--only" || arg.startsWith("--only=")) {
      const value = arg === "--only" ? argv[++i] : arg.slice("--only=".length);
      if (value === undefined || value === "") usage("--only needs a value");
      only = true;
      for (const name of value.split(",").map((s) => s.trim()).filter(Boolean)) {
        if (name === "static") STATIC_STEPS.forEach((s) => steps.add(s));
        else if ((STATIC_STEPS as readonly string[]).includes(name)) steps.add(name as StaticStep);
        else if ((RUNTIMES as readonly string[]).includes(name)) steps.add(name as Runtime);
        else usage(`unknown step "${name}"`);
      }
    } else if (arg === "-h" || arg === "--help") {
      usage("help");
    } else if (arg.startsWith("-")) {
      usage(`unknown option "${arg}"`);
    } else {
      files.push(arg);
    }
  }
  if (!only) [...STATIC_STEPS, ...RUNTIMES].forEach((s) => steps.add(s));
  return { steps, files };
}

/** Test files as root-relative POSIX-style paths, sorted. */
function testFiles(requested: string[]): string[] {
  const base = process.env.INIT_CWD ?? process.cwd(); // npm runs scripts from the package root
  if (requested.length > 0) {
    return requested.flatMap((f) => {
      const abs = isAbsolute(f) ? f : resolve(base, f);
      if (!existsSync(abs)) usage(`no such test file or folder: ${f}`);
      return statSync(abs).isDirectory() ? testFilesIn(abs) : [toRel(abs)];
    }).sort();
  }
  const dir = resolve(ROOT, process.env.TEST_DIR ?? "tests");
  return existsSync(dir) ? testFilesIn(dir) : [];
}

/** The *.test.ts files in `dir` and its subfolders, root-relative. */
function testFilesIn(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".test.ts"))
    .map((name) => toRel(join(dir, name)))
    .sort();
}

function toRel(abs: string): string {
  const rel = relative(ROOT, abs);
  // Keep absolute paths for files outside the project (e.g. TEST_DIR=/tmp/...).
  if (rel.startsWith("..") || isAbsolute(rel)) return abs;
  return rel.split(sep).join("/");
}

// ---------------------------------------------------------------------------------------------
// processes

function bin(name: string): string {
  if (name === "node") return process.execPath;
  const local = join(ROOT, "node_modules", ".bin", name);
  return existsSync(local) ? local : name;
}

function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
  // Deno treats any FORCE_COLOR (even "0") as "force colours"; node warns when both are set.
  delete env.FORCE_COLOR;
  return env;
}

let current: ReturnType<typeof spawn> | undefined;

function killTree(signal: NodeJS.Signals): void {
  const child = current;
  if (!child || child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, signal); // whole process group (spawned with detached: true)
  } catch {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
  }
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    killTree("SIGKILL");
    process.exit(130);
  });
}

/** Runs a command, streaming its output live while also collecting it. */
function run(
  cmd: string,
  args: string[],
  options: { capture?: "stdout"; env?: Record<string, string>; hide?: RegExp } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    let output = "";
    let hidden = 0;
    let timedOut = false;
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { ...childEnv(), ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: process.platform !== "win32",
    });
    current = child;
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (options.capture !== "stdout") process.stdout.write(chunk);
    });
    // With `hide`, stderr goes out line by line, less the matching lines and their "at" lines.
    let pendingLine = "";
    let hiding = false;
    const writeShown = (text: string) => {
      for (const line of text.split("\n")) {
        const plain = stripVTControlCharacters(line);
        if (options.hide!.test(plain)) {
          hidden++;
          hiding = true;
        } else if (!(hiding && /^\s+at /.test(plain))) {
          hiding = false;
          process.stderr.write(`${line}\n`);
        }
      }
    };
    child.stderr.on("data", (chunk: Buffer) => {
      if (options.capture !== "stdout") output += chunk.toString("utf8");
      if (!options.hide) {
        process.stderr.write(chunk);
        return;
      }
      const lines = (pendingLine + chunk.toString("utf8")).split("\n");
      pendingLine = lines.pop()!;
      if (lines.length > 0) writeShown(lines.join("\n"));
    });
    child.stderr.on("end", () => {
      if (options.hide && pendingLine) writeShown(pendingLine);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      console.error(`\n!!! ${cmd} timed out after ${TIMEOUT_MS / 1000} s, killing it`);
      killTree("SIGTERM");
      killTimer = setTimeout(() => killTree("SIGKILL"), 5000);
    }, TIMEOUT_MS);
    let settled = false;
    const finish = (result: Omit<RunResult, "output" | "timedOut" | "hidden">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      // Whatever the tests left running in the group goes too: Deno's test runner emits no
      // process "exit", where the helpers kill the servers they started.
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch { /* nothing left */ }
      current = undefined;
      resolvePromise({ ...result, output, timedOut, hidden });
    };
    child.on("error", (err) => finish({ code: null, signal: null, error: String(err) }));
    child.on("close", (code, signal) => finish({ code, signal }));
  });
}

function describeExit(r: RunResult): string {
  if (r.error) return r.error;
  if (r.timedOut) return `timed out after ${TIMEOUT_MS / 1000} s`;
  if (r.signal) return `killed by ${r.signal}`;
  return `exit code ${r.code}`;
}

function banner(title: string, cmd: string, args: string[]): void {
  const shown = [cmd.startsWith(ROOT) ? relative(ROOT, cmd) : cmd, ...args].join(" ");
  console.log(`\n=== ${title}: ${shown}`);
}

// ---------------------------------------------------------------------------------------------
// static checks

/** Writes node_modules/.cache/deno.d.ts (see scripts/deno_types.ts) from `deno types`. */
async function generateDenoTypes(): Promise<string | undefined> {
  const r = await run(bin("deno"), ["types"], { capture: "stdout" });
  if (r.code !== 0) return `deno types failed (${describeExit(r)})`;
  return writeDenoTypes(r.output);
}

async function runStatic(step: StaticStep): Promise<{ ok: boolean; note: string }> {
  if (step === "tsc") {
    console.log(`\n=== deno types -> ${relative(ROOT, DENO_TYPES_FILE)}`);
    const problem = await generateDenoTypes();
    if (problem) {
      console.error(`!!! ${problem}`);
      return { ok: false, note: problem };
    }
    const args = ["--noEmit", "-p", "."];
    banner("tsc", bin("tsc"), args);
    const r = await run(bin("tsc"), args);
    const errors = r.output.match(/error TS\d+/g)?.length ?? 0;
    return {
      ok: r.code === 0,
      note: r.code === 0 ? "" : errors > 0 ? `${errors} type errors` : describeExit(r),
    };
  }
  const { tool, args, label, hide } = STATIC_COMMANDS[step];
  banner(label, bin(tool), args);
  const r = await run(bin(tool), args, hide ? { hide: hide.pattern } : {});
  if (hide && r.hidden > 0) {
    console.log(`(${r.hidden} warnings hidden: ${hide.why})`);
  }
  return { ok: r.code === 0, note: r.code === 0 ? "" : describeExit(r) };
}

// ---------------------------------------------------------------------------------------------
// test runs and summary parsing

function lastNumber(text: string, re: RegExp): number | undefined {
  let value: number | undefined;
  for (const m of text.matchAll(re)) value = Number(m[1]);
  return value;
}

/** node --test, spec reporter: "ℹ pass 3", "ℹ fail 1", "ℹ skipped 2", ... */
function parseNode(text: string): Counts | undefined {
  const n = (key: string) => lastNumber(text, new RegExp(`^\\s*ℹ ${key} (\\d+)\\s*$`, "gm"));
  const pass = n("pass");
  const fail = n("fail");
  if (pass === undefined || fail === undefined) return undefined;
  return {
    passed: pass,
    failed: fail + (n("cancelled") ?? 0),
    skipped: (n("skipped") ?? 0) + (n("todo") ?? 0),
  };
}

/** deno test: "ok | 3 passed | 0 failed | 1 ignored (12ms)" or "FAILED | ..." */
function parseDeno(text: string): Counts | undefined {
  const lines = text.split("\n").filter((l) => /^\s*(ok|FAILED) \| \d+ passed/.test(l));
  const line = lines.at(-1);
  if (!line) return undefined;
  const n = (key: string) => Number(line.match(new RegExp(`(\\d+) ${key}`))?.[1] ?? 0);
  return { passed: n("passed"), failed: n("failed"), skipped: n("ignored") };
}

/** bun test: " 3 pass", " 1 skip", " 1 todo", " 1 fail", " 1 error", "Ran 6 tests across ..." */
function parseBun(text: string): Counts | undefined {
  const n = (key: string) => lastNumber(text, new RegExp(`^\\s*(\\d+) ${key}\\s*$`, "gm"));
  const pass = n("pass");
  if (pass === undefined || !/^\s*Ran \d+ tests? across/m.test(text)) return undefined;
  return {
    passed: pass,
    failed: (n("fail") ?? 0) + (n("errors?") ?? 0),
    skipped: (n("skip") ?? 0) + (n("todo") ?? 0),
  };
}

function runtimeCommand(runtime: Runtime, files: string[]): [string, string[]] {
  switch (runtime) {
    case "node":
      return [bin("node"), [
        "--test",
        "--test-reporter=spec",
        "--test-concurrency=1",
        `--test-timeout=${PER_TEST_TIMEOUT_MS}`,
        ...files,
      ]];
    case "deno":
    case "deno-ws":
      // tsc already type-checks everything (including the Deno adapter), so skip deno's check.
      return [bin("deno"), ["test", "-A", "--no-check", ...files]];
    case "bun":
      // bun treats arguments without a leading "./" (or "/") as name filters, not paths.
      return [bin("bun"), [
        "test",
        `--timeout=${PER_TEST_TIMEOUT_MS}`,
        ...files.map((f) => (isAbsolute(f) || f.startsWith("./") ? f : `./${f}`)),
      ]];
  }
}

async function runRuntime(runtime: Runtime, files: string[]): Promise<RuntimeReport> {
  const [cmd, args] = runtimeCommand(runtime, files);
  banner(`${runtime} tests`, cmd, args);
  const r = await run(cmd, args, runtime === "deno-ws" ? { env: { TEST_ENGINE: "ws" } } : {});
  const text = stripVTControlCharacters(r.output).replace(/\r/g, "");
  const parser = runtime === "node" ? parseNode : runtime === "bun" ? parseBun : parseDeno;
  const counts = r.timedOut ? undefined : parser(text);
  if (!counts) {
    const why = r.timedOut ? describeExit(r) : `no test summary found (${describeExit(r)})`;
    return {
      runtime,
      ran: true,
      passed: 0,
      failed: 1,
      skipped: 0,
      note: `${why}: counted as 1 failed`,
    };
  }
  const report: RuntimeReport = { runtime, ran: true, ...counts, note: "" };
  if (r.code !== 0 && counts.failed === 0) {
    report.failed = 1;
    report.note = `${describeExit(r)} although no test failed: counted as 1 failed`;
  }
  return report;
}

// ---------------------------------------------------------------------------------------------
// main

async function main(): Promise<number> {
  const { steps, files: requested } = parseArgs(process.argv.slice(2));
  const files = testFiles(requested);
  const staticResults: { step: StaticStep; ok: boolean; note: string }[] = [];
  const reports: RuntimeReport[] = [];

  for (const step of STATIC_STEPS) {
    if (steps.has(step)) staticResults.push({ step, ...(await runStatic(step)) });
  }

  const runtimes = RUNTIMES.filter((r) => steps.has(r));
  if (runtimes.length > 0 && files.length === 0) {
    console.error(`\n!!! no *.test.ts files found in ${process.env.TEST_DIR ?? "tests"}/`);
  }
  for (const runtime of runtimes) {
    if (files.length === 0) {
      reports.push({
        runtime,
        ran: false,
        passed: 0,
        failed: 1,
        skipped: 0,
        note: "no test files: counted as 1 failed",
      });
    } else {
      const engineFiles = files.filter((file) => ENGINE_SUITE.includes(file));
      if (runtime !== "deno-ws") reports.push(await runRuntime(runtime, files));
      else if (engineFiles.length > 0) reports.push(await runRuntime(runtime, engineFiles));
    }
  }

  // summary
  console.log("\n=== Summary");
  if (staticResults.length > 0) {
    console.log("static checks:");
    for (const s of staticResults) {
      const label = s.step === "tsc" ? "tsc --noEmit" : STATIC_COMMANDS[s.step].label;
      console.log(
        `  ${label.padEnd(23)} ${s.ok ? "ok" : "FAILED"}${s.note ? `  (${s.note})` : ""}`,
      );
    }
  }
  if (reports.length > 0) {
    console.log(`tests (${files.length} file${files.length === 1 ? "" : "s"}):`);
    console.log(
      `  ${"runtime".padEnd(8)} ${"passed".padStart(7)} ${"failed".padStart(7)} ${
        "skipped".padStart(8)
      }`,
    );
    for (const r of reports) {
      console.log(
        `  ${r.runtime.padEnd(8)} ${String(r.passed).padStart(7)} ${
          String(r.failed).padStart(7)
        } ` +
          `${String(r.skipped).padStart(8)}${r.note ? `  (${r.note})` : ""}`,
      );
    }
  }
  const total = reports.reduce(
    (acc, r) => ({
      passed: acc.passed + r.passed,
      failed: acc.failed + r.failed,
      skipped: acc.skipped + r.skipped,
    }),
    { passed: 0, failed: staticResults.filter((s) => !s.ok).length, skipped: 0 },
  );
  // CI reads the last line, which must be exactly `N passed, N failed`.
  console.log(`${total.skipped} skipped (each with its reason in the runtime's output above)`);
  console.log(`${total.passed} passed, ${total.failed} failed`);
  return total.failed > 0 ? 1 : 0;
}

process.exitCode = await main();
