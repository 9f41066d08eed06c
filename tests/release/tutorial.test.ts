/**
 * docs/tutorial/README.md as a reader follows it: its install steps in an empty folder, with the
 * tarball `npm pack` makes, then each step's files, written from the page's code blocks (the
 * first line names the file), and its commands, taken from the page, on Node, Deno and Bun. The
 * one liberty taken: `npx -y node@24`, `npx -y deno` and `npx -y bun` are this project's runtimes
 * (the same versions, without the network).
 *
 * Packing once is enough and each test drives all three runtimes itself, so the file runs under
 * the Node test run only. The browser page is driven in headless Chromium, skipped loudly
 * without it, as tests/release/browser.test.ts is.
 */

import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import { Client } from "../../mod.ts";
import { message, runtime, skipWithoutService, testPath, within } from "../helpers.ts";

const skip = runtime === "node"
  ? false
  : "runs once, under node: it drives all three runtimes itself";
if (skip) console.log(`tests/release/tutorial.test.ts skipped under ${runtime}: ${skip}`);

const ROOT = testPath("..");
const BIN = (name: string) => join(ROOT, "node_modules", ".bin", name);
const PAGE = readFileSync(join(ROOT, "docs/tutorial/README.md"), "utf8");
const CHROMIUM = "/usr/bin/chromium";

/** The page's code blocks, in order, with their language. */
const BLOCKS = [...PAGE.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({
  lang: m[1],
  code: m[2],
}));

/** The file a block writes, from its first line (`// chat.ts`, or `<!doctype html>`). */
function fileOf(code: string): string | undefined {
  if (code.startsWith("<!doctype html>")) return "index.html";
  return /^\/\/ (\S+\.ts)\n/.exec(code)?.[1];
}

/** The files as they stand after the `step`th section ("## N. ..."), later blocks replacing. */
function filesAfter(step: number): Map<string, string> {
  const files = new Map<string, string>();
  const sections = PAGE.split(/^## /m).filter((s) => /^\d+\. /.test(s));
  for (const section of sections.slice(0, step)) {
    for (const m of section.matchAll(/```(\w+)\n([\s\S]*?)```/g)) {
      const file = fileOf(m[2]);
      if (file) files.set(file, m[2]);
    }
  }
  return files;
}

/** A command from the page's tables, in backticks, that starts with `prefix`. */
function command(prefix: string): string[] {
  const found = [...PAGE.matchAll(/`(npx -y [^`]+)`/g)].map((m) => m[1])
    .find((c) => c.startsWith(prefix));
  assert.ok(found, `the tutorial has no command starting "${prefix}"`);
  return local(found);
}

/** A page command with this project's runtimes in place of `npx -y`. */
function local(line: string): string[] {
  const words = line.split(" ");
  assert.deepEqual(words.slice(0, 2), ["npx", "-y"], line);
  const tool = words[2] === "node@24" ? "node" : words[2];
  return [BIN(tool), ...words.slice(3)];
}

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

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

let tempDir: string | undefined;
let tarball: Promise<string> | undefined;
process.on("exit", () => {
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
});

/**
 * What `npm pack` reads and builds from. It packs a copy, because its build starts by deleting
 * dist/, which another test file packing at the same time (package.test.ts) may be reading.
 */
const PACKED_FROM = [
  "package.json",
  "deno.json",
  "mod.ts",
  "src",
  "scripts",
  "tsconfig.json",
  "tsconfig.build.json",
  "README.md",
  "LICENSE",
  "CHANGELOG.md",
];

/** `npm pack`, once, of a copy of the package: the path of the tarball. */
function packed(): Promise<string> {
  tarball ??= (async () => {
    tempDir = mkdtempSync(join(tmpdir(), "coro-ws-tutorial-"));
    const copy = join(tempDir, "package");
    for (const name of PACKED_FROM) cpSync(join(ROOT, name), join(copy, name), { recursive: true });
    symlinkSync(join(ROOT, "node_modules"), join(copy, "node_modules"));
    const packDir = join(tempDir, "pack");
    mkdirSync(packDir);
    await run("npm", ["pack", "--pack-destination", packDir], copy, 120_000);
    return join(packDir, readdirSync(packDir).find((f) => f.endsWith(".tgz"))!);
  })();
  return tarball;
}

/** A new folder after step 1 (the page's install steps) with the files of steps up to `step`. */
async function project(name: string, step: number): Promise<string> {
  const file = await packed();
  const dir = join(tempDir!, name);
  mkdirSync(dir);
  const setup = BLOCKS.find((b) => b.lang === "sh" && b.code.includes("npm pack"));
  assert.ok(setup, "the tutorial has no install steps");
  const lines = setup.code.split("\n");
  const steps = lines.slice(lines.findIndex((line) => line.startsWith("# in a new")) + 1)
    .map((line) => line.trim()).filter((line) => line !== "" && !line.startsWith("#"));
  for (const line of steps) {
    await run("sh", ["-c", line.replace(/\S*coro-ws-[\d.]+\.tgz/, file)], dir, 120_000);
  }
  for (const [path, code] of filesAfter(step)) writeFileSync(join(dir, path), code);
  return dir;
}

interface Running {
  port: number;
  output: () => string;
  stop: () => Promise<number | null>;
}

/** Starts `args` in `dir` with PORT set, and waits until it prints `ready`. */
async function start(dir: string, args: string[], ready: RegExp, port: number): Promise<Running> {
  const child = spawn(args[0], args.slice(1), {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PORT: String(port), NO_COLOR: "1" },
  });
  let output = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  await within(
    new Promise<void>((resolve, reject) => {
      const onData = (chunk: Uint8Array) => {
        output += new TextDecoder().decode(chunk);
        if (ready.test(output)) resolve();
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      exited.then((code) => reject(new Error(`${args.join(" ")} exited ${code}:\n${output}`)));
    }),
    30_000,
    `${args.join(" ")} printing ${ready}`,
  );
  return {
    port,
    output: () => output,
    stop: async () => {
      child.kill("SIGINT");
      const code = await within(exited, 10_000, "exit").catch(() => {
        child.kill("SIGKILL");
        return null;
      });
      return code;
    },
  };
}

/** Runs a command to its end with PORT set; its output. */
function finish(dir: string, args: string[], port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(args[0], args.slice(1), {
      cwd: dir,
      timeout: 30_000,
      env: { ...process.env, PORT: String(port), NO_COLOR: "1" },
    }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${args.join(" ")}: ${error.message}\n${stdout}${stderr}`));
      else resolve(stdout + stderr);
    });
  });
}

/** Logs `name` in through /login and joins `room` with a Client; the Client and its token. */
async function logIn(port: number, name: string, room = "lobby"): Promise<Client> {
  const login = await fetch(`http://127.0.0.1:${port}/login`, {
    method: "POST",
    body: new URLSearchParams({ name }),
  });
  assert.equal(login.status, 200);
  const client = new Client("127.0.0.1", port);
  client.set({ timeout: 5 });
  client.setHeaders({ Cookie: `token=${await login.text()}` });
  assert.ok(await client.upgrade(`/chat?room=${room}`), `upgrade: ${client.statusCode}`);
  return client;
}

/** Each runtime's commands on the page (their start, enough to tell them apart). */
const SERVERS: [string, string][] = [
  ["node", "npx -y node@24 chat.ts"],
  ["deno", "npx -y deno run --allow-net --allow-read=index.html --allow-env=PORT chat.ts"],
  ["bun", "npx -y bun chat.ts"],
];
const CLIENTS = [
  "npx -y node@24 client.ts",
  "npx -y deno run --allow-net --allow-env=PORT,WS_NO_BUFFER_UTIL,WS_NO_UTF_8_VALIDATE client.ts",
  "npx -y bun client.ts",
];

for (const [name, prefix] of SERVERS) {
  test(`[${runtime}] tutorial step 2 on ${name}: rooms, and the page's WebSocket one-liner`, {
    skip,
    timeout: 240_000,
  }, async () => {
    const dir = await project(`step2-${name}`, 2);
    const port = await freePort();
    const server = await start(dir, command(prefix), /chat on http:\/\/127\.0\.0\.1:\d+/, port);
    try {
      assert.match(server.output(), new RegExp(`chat on http://127\\.0\\.0\\.1:${port}\\n`));
      const oneLiner = BLOCKS.find((b) => b.lang === "sh" && b.code.includes("new WebSocket"));
      assert.ok(oneLiner, "the tutorial has no WebSocket one-liner");
      const line = oneLiner.code.trim().replaceAll("127.0.0.1:8080", `127.0.0.1:${port}`);
      const script = /^npx -y node@24 -e '(.*)'$/.exec(line)?.[1];
      assert.ok(script, line);

      const bob = new Client("127.0.0.1", port);
      assert.ok(await bob.upgrade("/chat?name=bob"));
      assert.equal(await message(bob), "bob joined");
      const other = new Client("127.0.0.1", port);
      assert.ok(await other.upgrade("/chat?name=eve&room=elsewhere"));
      assert.equal(await message(other), "eve joined");

      const ann = await start(dir, [BIN("node"), "-e", script], /ann: hi/, port);
      assert.match(ann.output(), /^ann joined\nann: hi\n/);
      assert.equal(await message(bob), "ann joined");
      assert.equal(await message(bob), "ann: hi");
      await ann.stop();
      assert.equal(await message(bob), "ann left");
      const quiet = await other.recv(0.3);
      assert.equal(quiet, false, "another room heard the lobby");
      await bob.disconnect();
      await other.disconnect();
    } finally {
      assert.equal(await server.stop(), 0, server.output());
    }
  });

  test(`[${runtime}] tutorial steps 3 to 5 on ${name}: login before upgrade, page, client`, {
    skip,
    timeout: 240_000,
  }, async () => {
    const dir = await project(`step5-${name}`, 5);
    const port = await freePort();
    const server = await start(dir, command(prefix), /chat on /, port);
    try {
      // Step 3: no login, no WebSocket.
      const stranger = new Client("127.0.0.1", port);
      assert.equal(await stranger.upgrade("/chat"), false);
      assert.equal(stranger.statusCode, 401);
      assert.equal((await fetch(`http://127.0.0.1:${port}/login`)).status, 400);
      // Step 4: the page is served.
      const page = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
      assert.equal(await page.text(), readFileSync(join(dir, "index.html"), "utf8"));
      // Step 5: the client script, on each runtime, against this server.
      const carol = await logIn(port, "carol");
      assert.equal(await message(carol), "carol joined");
      for (const client of CLIENTS) {
        const args = command(client);
        const output = await finish(dir, args, port);
        assert.equal(output, "bot joined\nbot: hello from bot\n", args.join(" "));
        assert.equal(await message(carol), "bot joined");
        assert.equal(await message(carol), "bot: hello from bot");
        assert.equal(await message(carol), "bot left");
      }
      await carol.disconnect();
    } finally {
      assert.equal(await server.stop(), 0, server.output());
    }
  });
}

const chromiumMissing = existsSync(CHROMIUM) ? undefined : [
  "",
  "!".repeat(72),
  `!! tests/release/tutorial.test.ts: the page is NOT tested in a browser: no ${CHROMIUM}.`,
  "!! Install it: apt-get install -y chromium",
  "!".repeat(72),
  "",
].join("\n");
const browserSkip = skip || skipWithoutService(chromiumMissing, `no Chromium at ${CHROMIUM}`) ||
  undefined;

test(`[${runtime}] tutorial step 4: two browser pages log in and chat`, {
  skip: browserSkip,
  timeout: 240_000,
}, async () => {
  const dir = await project("browser", 5);
  const port = await freePort();
  const server = await start(dir, command("npx -y node@24 chat.ts"), /chat on /, port);
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 10_000,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
  try {
    const pages = await Promise.all(
      [browser.newContext(), browser.newContext()].map(async (c) => (await c).newPage()),
    );
    for (const [i, name] of ["ann", "ben"].entries()) {
      await pages[i].goto(`http://127.0.0.1:${port}/`);
      await pages[i].fill("#name", name);
      await pages[i].click("#login button");
      await pages[i].locator("#log li", { hasText: `${name} joined` }).waitFor({ timeout: 10_000 });
    }
    await pages[0].fill("#text", "hello ben");
    await pages[0].click("#say button");
    await pages[1].locator("#log li", { hasText: "ann: hello ben" }).waitFor({ timeout: 10_000 });
  } finally {
    await browser.close();
    assert.equal(await server.stop(), 0, server.output());
  }
});
