/**
 * Test helpers: start a server script on the current runtime, drive it with coro-ws's own
 * `Client`, and, where interoperability is under test, with the runtime's own `WebSocket`.
 */

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  Client,
  type ClientSettings,
  CLOSE,
  CloseFrame,
  ERROR,
  Frame,
  type FrameData,
} from "../mod.ts";
import { detectAdapter } from "../src/adapters/detect.ts";
import type { RuntimeCapabilities } from "../src/core/link.ts";

/** The three runtimes, each test file runs under every one. */
export const runtimes = ["node", "deno", "bun"] as const;

type Runtime = (typeof runtimes)[number];

/** The runtime running the tests: fixture servers run on the same one. */
export const runtime: Runtime = "Bun" in globalThis
  ? "bun"
  : "Deno" in globalThis
  ? "deno"
  : "node";

/**
 * What the server's adapter can do on this runtime with `engine` (by default the engine the
 * runner chose, `TEST_ENGINE`): tests that expect different behaviour where a runtime falls short
 * decide by these flags, the ones the core decides by, not by runtime names.
 */
export async function serverCapabilities(
  engine: "native" | "ws" = process.env.TEST_ENGINE === "ws" ? "ws" : "native",
): Promise<RuntimeCapabilities> {
  return (await detectAdapter(engine)).capabilities;
}

/** The runtime after `current` in {@link runtimes}: a different peer for cross-runtime tests. */
export function otherRuntime(current: Runtime = runtime): Runtime {
  return runtimes[(runtimes.indexOf(current) + 1) % runtimes.length];
}

/** A running server process. */
export interface ServerProcess {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `ws://127.0.0.1:PORT` */
  wsUrl: string;
  port: number;
  /** The server's process id. */
  pid: number;
  /** Everything the server printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** Kills the process (SIGKILL) unless it exited. */
  kill(): void;
}

/** Absolute path of a file relative to the tests folder. */
export function testPath(relative: string): string {
  return fileURLToPath(new URL(relative, import.meta.url));
}

/**
 * Starts `script` (relative to the tests folder) with PORT=0 on `on` (default: this runtime),
 * and resolves once it prints `listening on http://HOST:PORT`.
 */
export function startServer(
  script: string,
  env: Record<string, string> = {},
  on: Runtime = runtime,
): Promise<ServerProcess> {
  const file = testPath(script);
  if (process.env.TEST_ENGINE) {
    const settings = JSON.parse(env.SETTINGS ?? "{}");
    env = {
      ...env,
      SETTINGS: JSON.stringify({ websocket_engine: process.env.TEST_ENGINE, ...settings }),
    };
  }
  const [binary, args] = runtimeCommand(file, on);
  const child = spawn(binary, args, {
    env: { ...process.env, HOST: "127.0.0.1", PORT: "0", NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  // "close", not "exit": it comes once the output is read to its end, so the last lines a
  // program prints as it exits are in output() (on Bun, "exit" came first once in ten loaded runs).
  const exited = new Promise<number | null>((resolve) =>
    child.on("close", (code) => resolve(code))
  );
  process.on("exit", () => child.kill("SIGKILL"));
  // A server left running must not keep the test process alive: it is killed on exit.
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as { unref?(): void }).unref?.();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${script} did not start within 30 s:\n${output}`));
    }, 30_000);
    const onData = (chunk: Uint8Array) => {
      output += new TextDecoder().decode(chunk);
      const match = /listening on http:\/\/([^\s]+):(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout.off("data", onData);
        child.stdout.on("data", (more: Uint8Array) => output += new TextDecoder().decode(more));
        const port = Number(match[2]);
        resolve({
          url: `http://127.0.0.1:${port}`,
          wsUrl: `ws://127.0.0.1:${port}`,
          port,
          pid: child.pid!,
          output: () => output,
          exited,
          kill: () => {
            if (child.exitCode === null) child.kill("SIGKILL");
          },
        });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (chunk: Uint8Array) => output += new TextDecoder().decode(chunk));
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code} before listening:\n${output}`));
    });
  });
}

/** The program and arguments that run `file` on `on`. */
function runtimeCommand(file: string, on: Runtime): [string, string[]] {
  // The npm-installed runtimes, as `npm test` puts first on PATH.
  const binary = on === runtime ? process.execPath : testPath(`../node_modules/.bin/${on}`);
  return [binary, on === "deno" ? ["run", "-A", file] : [file]];
}

/**
 * Runs `script` (relative to the tests folder) on `on` to its end and resolves with what it
 * printed; rejects if it fails or takes more than 15 s.
 */
export function runToEnd(
  script: string,
  on: Runtime,
  env: Record<string, string> = {},
): Promise<string> {
  const [binary, args] = runtimeCommand(testPath(script), on);
  const child = spawn(binary, args, {
    env: { ...process.env, HOST: "127.0.0.1", NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  for (const stream of [child.stdout, child.stderr]) {
    stream.on("data", (chunk: Uint8Array) => output += new TextDecoder().decode(chunk));
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${script} on ${on} did not end within 30 s:\n${output}`));
    }, 30_000);
    child.on("close", (code) => { // Once the output is read to its end (see startServer).
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`${script} on ${on} exited with ${code}:\n${output}`));
    });
  });
}

/** How a connection closed: the peer's Close code and reason (1006 when none came). */
export interface Closed {
  code: number;
  reason: string;
}

/**
 * Opens coro-ws's own `Client` to `url` (ws:// or wss://), the suite's client wherever the
 * client is not what is under test. `recv()` shows the server's Close as a `CloseFrame`.
 */
export function open(
  url: string,
  protocols: string[] = [],
  settings: ClientSettings = {},
): Promise<Client> {
  return Client.connect(
    url,
    { timeout: 5, open_websocket_close_frame: true, ...settings },
    protocols,
  );
}

/** The next message's data; rejects, saying why, on a close or after `seconds`. */
export async function message(client: Client, seconds = 5): Promise<FrameData> {
  const frame = await client.recv(seconds);
  if (frame instanceof CloseFrame) {
    throw new Error(`closed (${frame.code} ${frame.reason}) before a message came`);
  }
  if (frame === "") throw new Error("closed before a message came");
  if (frame === false) throw new Error(`no message within ${seconds} s: ${client.errMsg}`);
  return frame.data;
}

/**
 * Reads until the connection closes, skipping messages, and resolves with the server's Close
 * (1006 when it dropped the connection without one); rejects after `seconds`.
 */
export async function closeOf(client: Client, seconds = 5): Promise<Closed> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const left = (deadline - Date.now()) / 1000;
    const frame = left > 0 ? await client.recv(left) : false;
    if (frame instanceof CloseFrame) return { code: frame.code, reason: frame.reason };
    if (frame === "") return { code: CLOSE.ABNORMAL, reason: "" };
    if (frame === false) throw new Error(`not closed within ${seconds} s: ${client.errMsg}`);
  }
}

/** Asserts that nothing arrives on `client` for `seconds`: its `recv()` times out (110). */
export async function assertQuiet(client: Client, seconds: number, what: string): Promise<void> {
  const frame = await client.recv(seconds);
  const got = frame instanceof Frame ? `a message: ${frame.data}` : JSON.stringify(frame);
  assert.equal(frame, false, `${what}: got ${got}`);
  assert.equal(client.errCode, ERROR.TIMEOUT, `${what}: ${client.errMsg}`);
}

/** A pull-based wrapper of the runtime's own `WebSocket`, for tests of interoperability. */
export interface RuntimeSocket {
  socket: WebSocket;
  /** The next message (text or bytes); rejects after `ms` or if the connection closes first. */
  next(ms?: number): Promise<string | Uint8Array>;
  /** Resolves when the connection has closed. */
  closed: Promise<Closed>;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** Opens the runtime's own `WebSocket` and resolves once it is open. */
export function connectWebSocket(url: string, protocols?: string[]): Promise<RuntimeSocket> {
  const socket = new WebSocket(url, protocols);
  socket.binaryType = "arraybuffer";
  const messages: (string | Uint8Array)[] = [];
  let wake: (() => void) | undefined;
  let closedWith: Closed | undefined;
  const closed = new Promise<Closed>((resolve) => {
    socket.onclose = (event) => {
      closedWith = { code: event.code, reason: event.reason };
      resolve(closedWith);
      wake?.();
    };
  });
  socket.onmessage = (event) => {
    messages.push(typeof event.data === "string" ? event.data : new Uint8Array(event.data));
    wake?.();
  };
  const client: RuntimeSocket = {
    socket,
    closed,
    async next(ms = 5000) {
      const deadline = Date.now() + ms;
      while (messages.length === 0) {
        if (closedWith) throw new Error(`closed (${closedWith.code}) before a message came`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no message within ${ms} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
      return messages.shift()!;
    },
    send: (data) => socket.send(data),
    close: (code, reason) => socket.close(code, reason),
  };
  return new Promise((resolve, reject) => {
    socket.onopen = () => resolve(client);
    socket.onerror = () => reject(new Error(`cannot connect to ${url}`));
  });
}

/** Resolves with `promise`, or rejects after `ms` naming `what`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Asserts that `server`'s process is still running and that, within `ms`, its `/stats` route
 * shows no WebSocket open and no handler running but its own: nothing crashed, stalled or
 * leaked a slot.
 */
export async function assertServerSettled(
  server: ServerProcess,
  what: string,
  ms = 5000,
): Promise<void> {
  const deadline = Date.now() + ms;
  let stats: unknown;
  for (;;) {
    const exited = await Promise.race([
      server.exited,
      new Promise((resolve) => setTimeout(resolve, 0, "running")),
    ]);
    if (exited !== "running") {
      assert.fail(`[${runtime}] ${what}: the server exited (${exited}):\n${server.output()}`);
    }
    stats = await (await fetch(`${server.url}/stats`)).json();
    const { connection_num, coroutine_num } = stats as {
      connection_num: number;
      coroutine_num: number;
    };
    // The /stats handler counts itself.
    if (connection_num === 0 && coroutine_num === 1) return;
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`[${runtime}] ${what}: handlers or connections left: ${JSON.stringify(stats)}`);
}

/**
 * The skip reason for tests that need a service from Debian (`redis-server`, Chromium) that is
 * missing here: `missing` says so loudly on a developer's machine. In CI (`CI=true`, as
 * `.ci/run` runs) a missing service is a failed test instead, so a green run never hides it.
 */
export function skipWithoutService(missing: string | undefined, reason: string): string | false {
  if (!missing) return false;
  console.error(missing);
  if (process.env.CI === "true") {
    test(`[${runtime}] CI has what the tests need: ${reason}`, () => assert.fail(missing));
  }
  return reason;
}

/** The next message `client` gets that matches `pattern`, skipping others. */
export async function nextMatching(client: Client, pattern: RegExp, ms = 5000): Promise<string> {
  const deadline = Date.now() + ms;
  while (true) {
    const data = String(await message(client, Math.max(1, deadline - Date.now()) / 1000));
    if (pattern.test(data)) return data;
  }
}

/**
 * Sends probes from `sender` until `receiver` gets one "NAME: probe N" through a broker: the
 * receiving server's subscription has reached it, or it is back after an outage.
 */
export async function untilCrossing(
  sender: Client,
  receiver: Client,
  name: string,
  ms: number,
): Promise<string> {
  const deadline = Date.now() + ms;
  for (let probe = 0;; probe++) {
    await sender.push(`probe ${probe}`);
    try {
      return await nextMatching(receiver, new RegExp(`^${name}: probe`), 200);
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(`nothing crossed within ${ms} ms`, { cause: error });
      }
    }
  }
}

/** A throw-away TLS certificate and its key, in files of a new temporary folder. */
export interface Certificate {
  /** The folder; remove it when done. */
  dir: string;
  cert: string;
  key: string;
}

/**
 * A self-signed certificate for 127.0.0.1, made by openssl now (no private key is committed),
 * or undefined, with a loud warning naming `what` is skipped, where openssl cannot make one.
 */
export function makeCertificate(what: string): Certificate | undefined {
  const dir = mkdtempSync(join(tmpdir(), "coro-ws-tls-"));
  const made = spawnSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
    "-keyout",
    join(dir, "key.pem"),
    "-out",
    join(dir, "cert.pem"),
  ], { encoding: "utf8" });
  if (made.status !== 0) {
    console.error(
      `\n!!! ${what} SKIPPED: openssl could not make a certificate ` +
        `(${made.error?.message ?? made.stderr}). Install openssl to run them.\n`,
    );
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  return { dir, cert: join(dir, "cert.pem"), key: join(dir, "key.pem") };
}
