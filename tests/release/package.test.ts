/**
 * The npm package as users get it: `npm pack` (which builds dist/ through `prepack`), install
 * the tarball into a fresh project, and run the echo example from it on Node, Deno and Bun,
 * each importing "coro-ws", "coro-ws/redis" and "coro-ws/client" by name; a WebSocket client must get the
 * reply. Also checks what the tarball holds, that its declarations type-check, and that the
 * README's quick start works with it on every runtime as written.
 *
 * Packing and installing once is enough, and each step drives all three runtimes itself, so
 * the file runs under the Node test run only (the Deno and Bun runs skip it).
 */

import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import { closeOf, message, open, runtime, testPath, within } from "../helpers.ts";

const skip = runtime === "node"
  ? false
  : "runs once, under node: it drives all three runtimes itself";

const ROOT = testPath("..");
/** The runtimes and tools of this project, by absolute path: never whatever is on PATH. */
const BIN = (name: string) => join(ROOT, "node_modules", ".bin", name);

/** The seed echo example, as a user writes it against the installed package. */
function echoServer(specifier: string): string {
  return `import process from "node:process";
import { CloseFrame, Frame, Server } from "${specifier}";
import { RedisBroker } from "${specifier}/redis";
import { Client, Frame as ClientFrame } from "${specifier}/client";

const server = new Server("127.0.0.1", 0);
server.handle("/websocket", async (_request, ws) => {
  await ws.upgrade();
  while (true) {
    const frame = await ws.recv();
    if (frame === "" || frame === false) break;
    await ws.push(\`Hello \${frame.data}!\`);
  }
});
const stopped = server.start();
const { port } = await server.listening;
console.log(\`resolved \${import.meta.resolve("${specifier}")}\`);
console.log(\`RedisBroker is a \${typeof RedisBroker}\`);
console.log(\`classes named \${[Frame, CloseFrame, Server, RedisBroker, Client].map((c) => c.name)}\`);
console.log(\`one Frame class for coro-ws and coro-ws/client: \${ClientFrame === Frame}\`);
console.log(\`listening on http://127.0.0.1:\${port}\`);
await stopped;
process.exit(0);
`;
}

/** Type-checks against dist/*.d.ts, with no @types at all and without skipLibCheck. */
const TYPED = `import { type Frame, Server } from "coro-ws";
import { RedisBroker } from "coro-ws/redis";

const server: Server = new Server("127.0.0.1", 0);
server.useBroker(new RedisBroker({ url: "redis://127.0.0.1:6379" }));
server.handle("/websocket", async (_request, ws) => {
  await ws.upgrade();
  const frame: Frame | false | "" = await ws.recv();
  if (frame) await ws.push(\`Hello \${frame.data}!\`);
});
`;

/** Runs a command to completion; rejects with its output if it fails or takes over `ms`. */
function run(cmd: string, args: string[], cwd: string, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, {
      cwd,
      timeout: ms,
      killSignal: "SIGKILL",
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, NO_COLOR: "1" },
    }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`${cmd} ${args.join(" ")}: ${error.message}\n${stdout}${stderr}`));
      } else resolve(stdout + stderr);
    });
  });
}

interface Project {
  dir: string;
  /** Files in the installed package, relative to it. */
  files: string[];
}

let project: Promise<Project> | undefined;
let tempDir: string | undefined;
process.on("exit", () => {
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
});

/** Packs the package and installs the tarball into a new project, once per test run. */
function installed(): Promise<Project> {
  project ??= (async () => {
    tempDir = mkdtempSync(join(tmpdir(), "coro-ws-package-"));
    const packDir = join(tempDir, "pack");
    const dir = join(tempDir, "project");
    mkdirSync(packDir);
    mkdirSync(dir);
    await run("npm", ["pack", "--pack-destination", packDir], ROOT, 120_000);
    const tarballs = readdirSync(packDir).filter((f) => f.endsWith(".tgz"));
    assert.equal(tarballs.length, 1, `npm pack made ${tarballs.join(", ") || "nothing"}`);

    writeFileSync(
      join(dir, "package.json"),
      JSON.stringify({ name: "coro-ws-consumer", private: true, type: "module" }, null, 2),
    );
    // redis is an optional peer dependency: installed here so "coro-ws/redis" loads.
    await run(
      "npm",
      [
        "install",
        join(packDir, tarballs[0]),
        "redis@6.3.1",
        "--no-audit",
        "--no-fund",
        "--prefer-offline",
      ],
      dir,
      120_000,
    );
    writeFileSync(join(dir, "echo.ts"), echoServer("coro-ws"));
    writeFileSync(join(dir, "echo_deno.ts"), echoServer("npm:coro-ws"));
    // Deno resolves npm: imports from this project's node_modules, as npm installed them.
    writeFileSync(join(dir, "deno.json"), JSON.stringify({ nodeModulesDir: "manual" }));
    writeFileSync(join(dir, "typed.ts"), TYPED);
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "nodenext",
          target: "es2022",
          lib: ["es2022", "dom"], // web globals (Request, WebSocket), as @types/node gives
          types: [],
          strict: true,
          noEmit: true,
        },
        files: ["typed.ts"],
      }),
    );

    const pkg = join(dir, "node_modules", "coro-ws");
    const files = readdirSync(pkg, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) =>
        join(entry.parentPath, entry.name).slice(pkg.length + 1).split("\\").join("/")
      )
      .sort();
    return { dir, files };
  })();
  return project;
}

/** Runs the echo server in the project, talks to it, and returns what it printed. */
async function echo(dir: string, cmd: string, args: string[]): Promise<string> {
  const child = spawn(cmd, args, {
    cwd: dir,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  try {
    const port = await within(
      new Promise<number>((resolve, reject) => {
        const onData = (chunk: Uint8Array) => {
          output += new TextDecoder().decode(chunk);
          const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
          if (match) resolve(Number(match[1]));
        };
        child.stdout.on("data", onData);
        child.stderr.on("data", onData);
        exited.then((code) =>
          reject(new Error(`exited with ${code} before listening:\n${output}`))
        );
      }),
      30_000,
      `${args.at(-1)} listening`,
    );
    const client = await open(`ws://127.0.0.1:${port}/websocket`);
    await client.push("world");
    assert.equal(await message(client, 10), "Hello world!");
    assert.equal(await client.disconnect(1000), true, "the server answered the Close");
    return output;
  } catch (error) {
    throw new Error(`${String(error)}\nserver output:\n${output}`);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    await within(exited, 5000, "server exit").catch(() => {});
  }
}

test(`[${runtime}] npm pack ships dist/, the sources and the docs, and nothing else`, {
  skip,
  timeout: 240_000,
}, async () => {
  const { files } = await installed();
  for (
    const file of [
      "package.json",
      "README.md",
      "LICENSE",
      "CHANGELOG.md",
      "mod.ts",
      "src/http/server.ts",
      "src/pubsub/redis.ts",
      "dist/mod.js",
      "dist/mod.js.map",
      "dist/mod.d.ts",
      "dist/redis.js",
      "dist/redis.js.map",
      "dist/src/pubsub/redis.d.ts",
    ]
  ) {
    assert.ok(files.includes(file), `${file} is not in the package: ${files.join(", ")}`);
  }
  const extra = files.filter((f) =>
    !/^(dist|src)\//.test(f) &&
    !["package.json", "README.md", "LICENSE", "CHANGELOG.md", "mod.ts"].includes(f)
  );
  assert.deepEqual(extra, [], "files the package should not ship");
});

test(`[${runtime}] the installed package's declarations type-check (tsc, no skipLibCheck)`, {
  skip,
  timeout: 240_000,
}, async () => {
  const { dir } = await installed();
  await run(BIN("tsc"), ["-p", "."], dir, 60_000);
});

test(`[${runtime}] Node runs the echo example from the installed package (dist/)`, {
  skip,
  timeout: 240_000,
}, async () => {
  const { dir } = await installed();
  const output = await echo(dir, BIN("node"), ["echo.ts"]);
  assert.match(output, /resolved file:\S*\/node_modules\/coro-ws\/dist\/mod\.js/);
  assert.match(output, /RedisBroker is a function/);
  assert.match(output, /classes named Frame,CloseFrame,Server,RedisBroker,Client/);
  assert.match(output, /one Frame class for coro-ws and coro-ws\/client: true/);
});

test(`[${runtime}] Deno runs the echo example from npm:coro-ws in node_modules (dist/)`, {
  skip,
  timeout: 240_000,
}, async () => {
  const { dir } = await installed();
  const output = await echo(dir, BIN("deno"), ["run", "-A", "echo_deno.ts"]);
  assert.match(output, /resolved file:\S*\/node_modules\/coro-ws\/dist\/mod\.js/);
  assert.match(output, /RedisBroker is a function/);
  assert.match(output, /classes named Frame,CloseFrame,Server,RedisBroker,Client/);
  assert.match(output, /one Frame class for coro-ws and coro-ws\/client: true/);
});

test(`[${runtime}] Bun runs the echo example from the installed package (TypeScript sources)`, {
  skip,
  timeout: 240_000,
}, async () => {
  const { dir } = await installed();
  const output = await echo(dir, BIN("bun"), ["echo.ts"]);
  assert.match(output, /resolved file:\S*\/node_modules\/coro-ws\/mod\.ts/);
  assert.match(output, /RedisBroker is a function/);
  assert.match(output, /classes named Frame,CloseFrame,Server,RedisBroker,Client/);
  assert.match(output, /one Frame class for coro-ws and coro-ws\/client: true/);
});

/** The README's quick-start server, as written (it reads its port from PORT). */
function quickStart(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const block = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)]
    .map((match) => match[1])
    .find((code) => code.includes('from "coro-ws";'));
  assert.ok(block, "the README has no quick start importing coro-ws");
  assert.match(block, /process\.env\.PORT/);
  return block;
}

/**
 * The port the quick start says it listens on, started with PORT=0: the system picks a free
 * one, where a port picked beforehand could be taken by a test file running beside this one.
 */
async function listeningPort(child: ChildProcess, output: () => string): Promise<number> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const match = /listening on http:\/\/127\.0\.0\.1:(\d+)\n/.exec(output());
    if (match) return Number(match[1]);
    if (child.exitCode !== null || Date.now() > deadline) {
      assert.fail(`the quick start did not say where it listens:\n${output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The quick start's command for `file` on each runtime. */
const QUICK_START_COMMANDS: [string, (file: string) => [string, string[]]][] = [
  ["node", (file) => [BIN("node"), [file]]],
  ["deno", (file) => [BIN("deno"), ["run", "--allow-net", "--allow-env=PORT", file]]],
  ["bun", (file) => [BIN("bun"), [file]]],
];

for (const [name, command] of QUICK_START_COMMANDS) {
  test(`[${runtime}] the README's quick start, with the installed package, on ${name}`, {
    skip,
    timeout: 240_000,
  }, async () => {
    const { dir } = await installed();
    const file = `quick_start_${name}.ts`;
    writeFileSync(join(dir, file), quickStart());
    const [program, args] = command(file);
    const child = spawn(program, args, {
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PORT: "0" },
    });
    let output = "";
    for (const stream of [child.stdout, child.stderr]) {
      stream.on("data", (chunk: Uint8Array) => output += new TextDecoder().decode(chunk));
    }
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    try {
      const port = await listeningPort(child, () => output);
      assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), "hello", output);
      const client = await open(`ws://127.0.0.1:${port}/ws`);
      await client.push("hi");
      assert.equal(await message(client), "echo: hi");
      // Ctrl-C: the client gets 1001 and the process exits 0.
      child.kill("SIGINT");
      assert.equal((await closeOf(client)).code, 1001);
      assert.equal(await within(exited, 5000, "exit"), 0, output);
      assert.match(output, /\nstopped\n/, "the code after start() ran");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
}

if (skip) console.log(`tests/release/package.test.ts skipped under ${runtime}: ${skip}`);

test(`[${runtime}] the README's install steps work as written in an empty folder`, {
  skip,
  timeout: 240_000,
}, async () => {
  await installed();
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const block = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)]
    .map((match) => match[1])
    .find((code) => code.includes("npm pack"));
  assert.ok(block, "the README has no install steps");
  const lines = block.split("\n");
  const steps = lines.slice(lines.findIndex((line) => line.startsWith("# in your project")) + 1)
    .map((line) => line.replace(/\s+#.*$/, "").trim())
    .filter((line) => line !== "");
  assert.ok(steps.some((step) => step.startsWith("npm install")), block);
  const tarball = join(tempDir!, "pack", readdirSync(join(tempDir!, "pack"))[0]);
  const empty = join(tempDir!, "empty");
  mkdirSync(empty);
  for (const step of steps) {
    // The one liberty taken: the tarball's path here instead of ../coro-ws/.
    await run("sh", ["-c", step.replace(/\S*coro-ws-[\d.]+\.tgz/, tarball)], empty, 120_000);
  }
  const manifest = JSON.parse(readFileSync(join(empty, "package.json"), "utf8"));
  assert.equal(manifest.type, "module");
  assert.ok(manifest.dependencies?.["coro-ws"], JSON.stringify(manifest));
  writeFileSync(join(empty, "server.ts"), quickStart());
  const child = spawn(BIN("node"), ["server.ts"], {
    cwd: empty,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PORT: "0" },
  });
  let output = "";
  for (const stream of [child.stdout, child.stderr]) {
    stream.on("data", (chunk: Uint8Array) => output += new TextDecoder().decode(chunk));
  }
  try {
    const port = await listeningPort(child, () => output);
    const page = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    assert.equal(page, "hello", "the quick start serves from the folder the steps made");
  } finally {
    child.kill("SIGKILL");
  }
});
