/**
 * What the benchmark scripts share: paths, command-line options, runtime commands pinned to a
 * CPU, starting a benchmark server, and reading what a server prints and its inspector (`run.ts`,
 * `clients.ts`, `client_load.ts`, `profile.ts`, `heap.ts`).
 *
 * @module
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The repository's root. */
export const ROOT: string = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** The npm-installed runtimes and tools. */
export const BIN: string = join(ROOT, "node_modules", ".bin");

/** A runtime a benchmark process runs on. */
export type Runtime = "bun" | "deno" | "node";

/** The value after `--name` on the command line, or `fallback`. */
export function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : fallback;
}

/** `taskset -c CPU` where it exists and there are two CPUs to split. */
export const PIN: boolean = availableParallelism() >= 2 &&
  spawnSync("taskset", ["-V"]).status === 0;

/** `program args` pinned to `cpu` where pinning is possible. */
export function pinned(cpu: number, program: string, args: string[]): [string, string[]] {
  return PIN ? ["taskset", ["-c", String(cpu), program, ...args]] : [program, args];
}

/** The program and arguments that run `file` on `runtime`. */
export function runtimeCommand(runtime: Runtime, file: string): [string, string[]] {
  if (runtime === "node") return [process.execPath, [file]];
  if (runtime === "bun") return [join(BIN, "bun"), [file]];
  return [join(BIN, "deno"), ["run", "-A", file]];
}

/** A benchmark server that has said where it listens. */
export interface RunningServer {
  port: number;
  pid: number;
  /** SIGTERM, then SIGKILL after 2 s; resolves once it has exited. */
  stop(): Promise<void>;
}

/**
 * Starts `file` on `runtime`, pinned to CPU 0, with PORT=0, and resolves once it prints
 * `listening on http://HOST:PORT`; rejects if it exits first or takes 15 s.
 */
export function startServer(
  runtime: Runtime,
  file: string,
  env: Record<string, string> = {},
): Promise<RunningServer> {
  const [program, args] = pinned(0, ...runtimeCommand(runtime, file));
  const child = spawn(program, args, {
    cwd: ROOT,
    env: { ...process.env, HOST: "127.0.0.1", PORT: "0", NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<void>((done) => child.on("exit", () => done()));
  const stop = async () => {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
    await exited;
    clearTimeout(timer);
  };
  const name = `${file} on ${runtime}`;
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${name} did not start within 15 s:\n${output}`));
    }, 15_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on http:\/\/[^\s]+:(\d+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout.off("data", onData);
      child.stdout.resume(); // Keep draining what it prints.
      resolveStart({ port: Number(match[1]), pid: child.pid!, stop });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (chunk: Buffer) => output += chunk.toString());
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before listening:\n${output}`));
    });
  });
}

/** What a child process has printed (stdout and stderr together), and waits for a part of it. */
export interface Output {
  readonly text: string;
  /** Resolves with what `find` returns for the output so far, once that is not undefined. */
  until<T>(find: (text: string) => T | undefined): Promise<T>;
}

/** Collects what `child` prints on stdout and stderr. */
export function watchOutput(child: ChildProcess): Output {
  let text = "";
  const checks = new Set<() => void>();
  const read = (chunk: Uint8Array) => {
    text += new TextDecoder().decode(chunk);
    for (const check of checks) check();
  };
  child.stdout?.on("data", read);
  child.stderr?.on("data", read);
  return {
    get text() {
      return text;
    },
    until<T>(find: (text: string) => T | undefined): Promise<T> {
      return new Promise((done) => {
        const check = () => {
          const found = find(text);
          if (found === undefined) return;
          checks.delete(check);
          done(found);
        };
        checks.add(check);
        check();
      });
    },
  };
}

/** Opens the inspector (Chrome DevTools Protocol) of a Node or Deno run with `--inspect`. */
export async function openInspector(output: Output): Promise<WebSocket> {
  const url = await output.until((text) => /Debugger listening on (ws:\/\/\S+)/.exec(text)?.[1]);
  const socket = new WebSocket(url);
  await new Promise((done, fail) => {
    socket.onopen = done;
    socket.onerror = fail;
  });
  return socket;
}
