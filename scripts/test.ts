#!/usr/bin/env node
/**
 * Project test runner (Node 24, no dependencies).
 *
 *   npm test                                  # everything
 *   npm test -- --only=node                   # only the Node test runs (comma separated list of
 *                                             #   steps: tsc, core, lint, fmt, docs, doclint,
 *                                             #   exports, errors, reference, doctest, publish,
 *                                             #   static (all eleven), node, deno, bun, deno-ws)
 *   npm test -- tests/core tests/http/http.test.ts  # only these test files and folders
 *   npm test -- --only=deno,bun tests/foo.test.ts
 *
 * Environment:
 *   TEST_DIR=dir             where to look for *.test.ts files, in subfolders too (default "tests")
 *   TEST_JOBS=n              how many runs go at once (default: two per CPU core); 1 runs one
 *                            after another
 *   TEST_STEP_TIMEOUT=secs   time limit of one run, a static check or one test file on one
 *                            runtime (default 480); the run is killed and counted as failed
 *                            when it is exceeded
 *
 * Steps: tsc --noEmit, tsc -p tsconfig.core.json (src/core with no Node, Deno or Bun types), deno lint, deno fmt --check, deno check --doc-only (every code
 * example in README.md, the docs and the JSDoc), deno doc --lint (JSDoc on every
 * public symbol), scripts/check_exports.ts (package.json and deno.json
 * export the same entry points), scripts/error_table.ts --check (docs/reference/errors.md matches the
 * error codes and every code is set somewhere), scripts/reference.ts --check (the API
 * reference is not stale), scripts/doc_examples.ts (every JSDoc example runs), deno publish
 * --dry-run (what JSR would get, slow types included), and each test file under `node --test`,
 * `deno test` and `bun test`, and the engine suite once more on Deno with
 * `websocket_engine: "ws"` (deno-ws).
 *
 * Each step and each test file on each runtime is one run, in its own process; up to TEST_JOBS
 * of them go at once, since most test files spend their time waiting on sockets and timers.
 * A run's output is printed whole when it ends, between `=== NAME: command` and
 * `--- NAME: how it ended`. Test results are read from each run's JUnit report: a run that writes
 * none, or exits non-zero with no failed test, counts as 1 failed. Every run happens even if
 * another failed; the summary names the failed runs and tests, and the last line printed is
 * `N passed, N failed` summed over the runtimes (+1 failed per failed check).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";
import { writeDenoTypes } from "./deno_types.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const STATIC_STEPS = [
  "tsc",
  "core",
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

/**
 * Generous: on 2 cores beside a CPU-bound process the harness's own quick run (release/bench)
 * took 185 s, where it takes 80 s on an idle machine; a stall still ends in a failure.
 */
const TIMEOUT_MS = Number(process.env.TEST_STEP_TIMEOUT ?? "480") * 1000;
/** Runs at once: two per core keeps the CPU busy while most runs wait on I/O. */
const JOBS = Number(process.env.TEST_JOBS ?? availableParallelism() * 2);
if (!Number.isInteger(JOBS) || JOBS < 1) usage(`TEST_JOBS must be a whole number from 1 up`);
/**
 * The runs that take longest, longest first: test files (on each runtime) and static steps, as
 * a full run on 2 cores under other load took them in December 2026 (release/bench 111 s on
 * Node, doctest 37 s, the others 12 to 28 s). They start first, so that the last runs to end
 * are short ones; the rest go static steps first, then test files in name order.
 */
const LONG_FIRST = [
  "release/bench",
  "doctest",
  "release/tutorial",
  "pubsub/redis",
  "release/browser",
  "conformance/delivery",
  "release/package",
  "robustness/hostile",
  "docs",
  "publish",
  "robustness/uploads",
  "pubsub/presence",
  "pubsub/history",
  "robustness/fuzz",
  "client/client",
  "pubsub/redis_cluster",
  "robustness/hardening",
];
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
    tool: "deno" | "node" | "tsc";
    args: string[];
    label: string;
    /** Warnings held back (each with its "at" line), counted in one line instead. */
    hide?: { pattern: RegExp; why: string };
  }
> = {
  core: {
    tool: "tsc",
    args: ["-p", "tsconfig.core.json"],
    label: "tsc src/core alone",
  },
  lint: { tool: "deno", args: ["lint"], label: "deno lint" },
  fmt: { tool: "deno", args: ["fmt", "--check"], label: "deno fmt --check" },
  docs: {
    tool: "deno",
    args: [
      "check",
      "--doc-only",
      "README.md",
      "CONTRIBUTING.md",
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
  /** stdout and stderr as they came, interleaved. */
  output: string;
  stdout: string;
  seconds: number;
  error?: string;
}

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

/** One test file's run on one runtime. */
interface FileReport extends Counts {
  runtime: Runtime;
  file: string;
  /** The failed tests' names, from the JUnit report. */
  failures: string[];
  note: string;
}

// ---------------------------------------------------------------------------------------------
// arguments

function usage(message: string): never {
  console.error(`scripts/test.ts: ${message}`);
  console.error(
    `usage: node scripts/test.ts [--only=${[...STATIC_STEPS, "static", ...RUNTIMES].join("|")}` +
      `[,...]] [test files and folders...]`,
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

/** The runs going now, each its own process group, all killed if the runner is. */
const running = new Set<ReturnType<typeof spawn>>();

function killGroup(child: ReturnType<typeof spawn>, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
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
    for (const child of running) killGroup(child, "SIGKILL");
    process.exit(130);
  });
}

/**
 * Runs a command to its end and resolves with everything it printed: runs go side by side, so
 * each one's output is printed whole by its caller, never mixed with another's.
 */
function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const started = performance.now();
    let output = "";
    let stdout = "";
    let timedOut = false;
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { ...childEnv(), ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: process.platform !== "win32",
    });
    running.add(child);
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
      stdout += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => output += chunk.toString("utf8"));
    const timer = setTimeout(() => {
      timedOut = true;
      output += `\n!!! timed out after ${TIMEOUT_MS / 1000} s, killed\n`;
      killGroup(child, "SIGTERM");
      killTimer = setTimeout(() => killGroup(child, "SIGKILL"), 5000);
    }, TIMEOUT_MS);
    let settled = false;
    const finish = (result: Pick<RunResult, "code" | "signal" | "error">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      // Whatever the tests left running in the group goes too: Deno's test runner emits no
      // process "exit", where the helpers kill the servers they started.
      killGroup(child, "SIGKILL");
      running.delete(child);
      const seconds = (performance.now() - started) / 1000;
      resolvePromise({ ...result, output, stdout, timedOut, seconds });
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

/** Prints a finished run whole: what ran, what it printed, and how it ended. */
function printRun(title: string, cmd: string, args: string[], output: string, end: string): void {
  const shown = [cmd.startsWith(ROOT) ? relative(ROOT, cmd) : cmd, ...args]
    .map((arg) => arg.startsWith(ROOT) ? relative(ROOT, arg) : arg).join(" ");
  const text = output.endsWith("\n") || output === "" ? output : `${output}\n`;
  process.stdout.write(`\n=== ${title}: ${shown}\n${text}--- ${title}: ${end}\n`);
}

/** Runs `tasks` with at most `limit` at a time, in the order given. */
async function pool<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

// ---------------------------------------------------------------------------------------------
// static checks

/** Writes node_modules/.cache/deno.d.ts (see scripts/deno_types.ts) from `deno types`. */
async function generateDenoTypes(): Promise<string | undefined> {
  const r = await run(bin("deno"), ["types"]);
  if (r.code !== 0) return `deno types failed (${describeExit(r)})\n${r.output}`;
  return writeDenoTypes(r.stdout);
}

async function runStatic(step: StaticStep): Promise<{ ok: boolean; note: string }> {
  if (step === "tsc") {
    const problem = await generateDenoTypes();
    const args = ["--noEmit", "-p", "."];
    if (problem) {
      printRun("tsc --noEmit", bin("tsc"), args, problem, "FAILED, not run");
      return { ok: false, note: "deno types failed" };
    }
    const r = await run(bin("tsc"), args);
    const errors = r.output.match(/error TS\d+/g)?.length ?? 0;
    const note = r.code === 0 ? "" : errors > 0 ? `${errors} type errors` : describeExit(r);
    printRun("tsc --noEmit", bin("tsc"), args, r.output, ended(r.code === 0, note, r.seconds));
    return { ok: r.code === 0, note };
  }
  const { tool, args, label, hide } = STATIC_COMMANDS[step];
  const r = await run(bin(tool), args);
  let output = r.output;
  if (hide) {
    // Each hidden warning goes with its "at" lines.
    let hidden = 0;
    let hiding = false;
    output = output.split("\n").filter((line) => {
      const plain = stripVTControlCharacters(line);
      if (hide.pattern.test(plain)) {
        hidden++;
        return !(hiding = true);
      }
      if (hiding && /^\s+at /.test(plain)) return false;
      hiding = false;
      return true;
    }).join("\n");
    if (hidden > 0) output += `\n(${hidden} warnings hidden: ${hide.why})\n`;
  }
  const note = r.code === 0 ? "" : describeExit(r);
  printRun(label, bin(tool), args, output, ended(r.code === 0, note, r.seconds));
  return { ok: r.code === 0, note };
}

function ended(ok: boolean, note: string, seconds: number): string {
  return `${ok ? "ok" : "FAILED"}${note ? ` (${note})` : ""} in ${seconds.toFixed(1)} s`;
}

// ---------------------------------------------------------------------------------------------
// test runs, read from their JUnit reports

/**
 * Counts the `<testcase>` elements of a JUnit report (node, deno and bun all write one per
 * test): a failure or error inside fails it, `<skipped>` skips it, else it passed. Attribute
 * values are matched quote to quote, as node's reporter leaves ">" unescaped in them.
 */
function parseJUnit(xml: string): Counts & { failures: string[] } {
  const counts = { passed: 0, failed: 0, skipped: 0, failures: [] as string[] };
  const testcase = /<testcase((?:\s+[\w:.-]+="[^"]*")*)\s*(?:\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const [, attributes, body = ""] of xml.matchAll(testcase)) {
    if (/<(failure|error)\b/.test(body)) {
      counts.failed++;
      counts.failures.push(unescapeXml(/\bname="([^"]*)"/.exec(attributes)?.[1] ?? "?"));
    } else if (/<skipped\b/.test(body)) {
      counts.skipped++;
    } else {
      counts.passed++;
    }
  }
  return counts;
}

function unescapeXml(text: string): string {
  return text.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

/** The command that runs one test file on `runtime`, writing its JUnit report to `report`. */
function runtimeCommand(runtime: Runtime, file: string, report: string): [string, string[]] {
  switch (runtime) {
    case "node":
      return [bin("node"), [
        "--test",
        "--test-reporter=spec",
        "--test-reporter-destination=stdout",
        "--test-reporter=junit",
        `--test-reporter-destination=${report}`,
        `--test-timeout=${PER_TEST_TIMEOUT_MS}`,
        file,
      ]];
    case "deno":
    case "deno-ws":
      // tsc already type-checks everything (including the Deno adapter), so skip deno's check.
      return [bin("deno"), ["test", "-A", "--no-check", `--junit-path=${report}`, file]];
    case "bun":
      return [bin("bun"), [
        "test",
        `--timeout=${PER_TEST_TIMEOUT_MS}`,
        "--reporter=junit",
        `--reporter-outfile=${report}`,
        // bun treats arguments without a leading "./" (or "/") as name filters, not paths.
        isAbsolute(file) || file.startsWith("./") ? file : `./${file}`,
      ]];
  }
}

async function runFile(runtime: Runtime, file: string, reports: string): Promise<FileReport> {
  const report = join(reports, `${runtime}-${file.replace(/[/\\]/g, "_")}.xml`);
  const [cmd, args] = runtimeCommand(runtime, file, report);
  const r = await run(cmd, args, runtime === "deno-ws" ? { TEST_ENGINE: "ws" } : {});
  const xml = existsSync(report) ? readFileSync(report, "utf8") : undefined;
  const result: FileReport = xml === undefined || r.timedOut
    ? {
      runtime,
      file,
      passed: 0,
      failed: 1,
      skipped: 0,
      failures: [],
      note: `${r.timedOut ? "" : "no JUnit report, "}${describeExit(r)}: counted as 1 failed`,
    }
    : { runtime, file, ...parseJUnit(xml), note: "" };
  if (r.code !== 0 && result.failed === 0) {
    result.failed = 1;
    result.note = `${describeExit(r)} although no test failed: counted as 1 failed`;
  }
  const end = `${result.passed} passed, ${result.failed} failed, ${result.skipped} skipped` +
    `${result.note ? ` (${result.note})` : ""} in ${r.seconds.toFixed(1)} s`;
  printRun(`${runtime} ${file}`, cmd, args, r.output, end);
  return result;
}

/** Every run to do, in the order of {@link LONG_FIRST}. */
function schedule(steps: Set<Step>, files: string[]): { step: Step; file?: string }[] {
  const runs: { step: Step; file?: string }[] = [
    ...STATIC_STEPS.filter((step) => steps.has(step)).map((step) => ({ step })),
    ...files.flatMap((file) =>
      RUNTIMES.filter((runtime) =>
        steps.has(runtime) && (runtime !== "deno-ws" || ENGINE_SUITE.includes(file))
      ).map((runtime) => ({ step: runtime, file }))
    ),
  ];
  const rank = ({ step, file }: { step: Step; file?: string }) => {
    const name = file === undefined ? step : file.replace(/^tests\/(.*)\.test\.ts$/, "$1");
    const index = LONG_FIRST.indexOf(name);
    return index === -1 ? LONG_FIRST.length : index;
  };
  return runs.sort((a, b) => rank(a) - rank(b)); // Stable: the rest keep their order.
}

// ---------------------------------------------------------------------------------------------
// main

async function main(): Promise<number> {
  const { steps, files } = parseArgs(process.argv.slice(2));
  const testFilesFound = testFiles(files);
  const runtimes = RUNTIMES.filter((r) => steps.has(r));
  if (runtimes.length > 0 && testFilesFound.length === 0) {
    console.error(`\n!!! no *.test.ts files found in ${process.env.TEST_DIR ?? "tests"}/`);
  }
  const reports = mkdtempSync(join(tmpdir(), "coro-ws-junit-"));
  const started = performance.now();
  const staticResults: { step: StaticStep; ok: boolean; note: string }[] = [];
  const fileReports: FileReport[] = [];
  try {
    await pool(
      schedule(steps, testFilesFound).map(({ step, file }) => async () => {
        if (file === undefined) {
          staticResults.push({
            step: step as StaticStep,
            ...(await runStatic(step as StaticStep)),
          });
        } else fileReports.push(await runFile(step as Runtime, file, reports));
      }),
      JOBS,
    );
  } finally {
    rmSync(reports, { recursive: true, force: true });
  }

  // summary
  console.log(
    `\n=== Summary (${((performance.now() - started) / 1000).toFixed(0)} s, ${JOBS} at a time)`,
  );
  if (staticResults.length > 0) {
    console.log("static checks:");
    for (const step of STATIC_STEPS) {
      const s = staticResults.find((result) => result.step === step);
      if (!s) continue;
      const label = step === "tsc" ? "tsc --noEmit" : STATIC_COMMANDS[step].label;
      console.log(
        `  ${label.padEnd(23)} ${s.ok ? "ok" : "FAILED"}${s.note ? `  (${s.note})` : ""}`,
      );
    }
  }
  const totals = runtimes.map((runtime) => {
    const mine = fileReports.filter((r) => r.runtime === runtime);
    const ran = mine.length > 0;
    return {
      runtime,
      ran,
      passed: mine.reduce((n, r) => n + r.passed, 0),
      // A runtime with no test files to run counts as failed: nothing was tested.
      failed: ran ? mine.reduce((n, r) => n + r.failed, 0) : testFilesFound.length === 0 ? 1 : 0,
      skipped: mine.reduce((n, r) => n + r.skipped, 0),
      notes: ran ? [] : testFilesFound.length === 0 ? ["no test files: counted as 1 failed"] : [],
    };
  }).filter((t) => t.ran || t.notes.length > 0);
  if (totals.length > 0) {
    console.log(
      `tests (${testFilesFound.length} file${testFilesFound.length === 1 ? "" : "s"}):`,
    );
    console.log(
      `  ${"runtime".padEnd(8)} ${"passed".padStart(7)} ${"failed".padStart(7)} ${
        "skipped".padStart(8)
      }`,
    );
    for (const t of totals) {
      console.log(
        `  ${t.runtime.padEnd(8)} ${String(t.passed).padStart(7)} ${String(t.failed).padStart(7)} ${
          String(t.skipped).padStart(8)
        }${t.notes.length > 0 ? `  (${t.notes.join("; ")})` : ""}`,
      );
    }
  }
  const failedRuns = fileReports.filter((r) => r.failed > 0);
  if (failedRuns.length > 0) {
    console.log("failed (each run's output is above, under === RUNTIME FILE):");
    for (const r of failedRuns) {
      console.log(`  ${r.runtime} ${r.file}${r.note ? `: ${r.note}` : ""}`);
      for (const name of r.failures) console.log(`    ${name}`);
    }
  }
  const total = totals.reduce(
    (acc, t) => ({
      passed: acc.passed + t.passed,
      failed: acc.failed + t.failed,
      skipped: acc.skipped + t.skipped,
    }),
    { passed: 0, failed: staticResults.filter((s) => !s.ok).length, skipped: 0 },
  );
  // CI reads the last line, which must be exactly `N passed, N failed`.
  console.log(`${total.skipped} skipped (each with its reason in its run's output above)`);
  console.log(`${total.passed} passed, ${total.failed} failed`);
  return total.failed > 0 ? 1 : 0;
}

process.exitCode = await main();
