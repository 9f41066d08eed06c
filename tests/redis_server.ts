/**
 * A real `redis-server` (Debian package `redis-server`) on a free loopback port, for the tests
 * and the benchmarks: no persistence, killed with the process that started it.
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createServer, Socket } from "node:net";
import process from "node:process";

/** The redis-server binary, or undefined when it is not installed. */
export const redisServerBinary: string | undefined = ["/usr/bin/redis-server", "redis-server"]
  .find((candidate) => spawnSync(candidate, ["--version"]).status === 0);

/** Why the Redis tests cannot run here, to print loudly; undefined when they can. */
export const redisMissing: string | undefined = redisServerBinary ? undefined : [
  "",
  "#".repeat(72),
  "### SKIPPED: redis-server is not installed, so the Redis broker is untested here.",
  "### Install it (Debian: apt-get install -y redis-server) or run bash .ci/run.",
  "#".repeat(72),
  "",
].join("\n");

/** A running redis-server that can be killed and started again on the same port. */
export class RedisServer {
  readonly port: number;
  #child: ChildProcess | undefined;

  private constructor(port: number) {
    this.port = port;
  }

  /** Starts redis-server on a free loopback port. */
  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort());
    await server.restart();
    return server;
  }

  /** `redis://127.0.0.1:PORT` */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it again on its port after `kill()`; resolves once it accepts connections. */
  async restart(): Promise<void> {
    const child = spawn(redisServerBinary!, [
      "--port",
      String(this.port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
    ], { stdio: "ignore" });
    child.unref();
    process.on("exit", () => child.kill("SIGKILL"));
    this.#child = child;
    const deadline = Date.now() + 10_000;
    while (!await accepts(this.port)) {
      if (Date.now() > deadline) throw new Error(`redis-server did not start on ${this.port}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Kills it at once (SIGKILL), as a crash would; resolves once it has exited. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.connect(port, "127.0.0.1");
  });
}
