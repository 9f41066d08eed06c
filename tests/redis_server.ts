/**
 * A real `redis-server` (Debian package `redis-server`) on a free loopback port, for the tests
 * and the benchmarks: no persistence, killed with the process that started it.
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createServer, type Server as NetServer, Socket } from "node:net";
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
    // Unref'd so that it never keeps a process alive, it must be ref'd while awaited: with
    // nothing else pending, the event loop would end before its exit (Node: exit code 13).
    child.ref();
    child.kill("SIGKILL");
    await exited;
  }
}

/**
 * A TCP proxy on loopback to a port, to fake what a network does to a Redis connection: a link
 * that stalls (stays open, carries nothing), an endpoint that never answers, or an outage.
 */
export class TcpProxy {
  readonly port: number;
  readonly #server: NetServer;
  /** What a new connection does: pass both ways, stay silent, or close at once. */
  #mode: "pass" | "silent" | "refuse" = "pass";
  readonly #stalled = new WeakSet<Socket>();
  readonly #sockets = new Set<Socket>();
  /** The client side of each connection that reaches the target. */
  readonly #clients = new Set<Socket>();

  private constructor(server: NetServer, port: number) {
    this.#server = server;
    this.port = port;
  }

  /** Listens on a free loopback port and forwards to `target` on 127.0.0.1. */
  static async start(target: number): Promise<TcpProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const proxy = new TcpProxy(server, (server.address() as { port: number }).port);
    server.on("connection", (socket) => proxy.#accept(socket, target));
    return proxy;
  }

  /** `redis://127.0.0.1:PORT` */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The connections open now carry nothing any more, yet stay open. */
  stall(): void {
    for (const socket of this.#sockets) this.#stalled.add(socket);
  }

  /**
   * Sends each open connection's client, between two of Redis's replies, the start of a bulk
   * string of nearly 1 GB that never comes: what a broken proxy or a man in the middle does. A
   * client that trusts it reads everything after it as that string. Passes on as before after.
   */
  corrupt(): void {
    for (const client of this.#clients) client.write("$999999999\r\n");
  }

  /** New connections are accepted and never answered. */
  silence(): void {
    this.#mode = "silent";
  }

  /** Open connections are dropped and new ones closed at once, as in an outage. */
  cut(): void {
    this.#mode = "refuse";
    for (const socket of this.#sockets) socket.destroy();
  }

  /** New connections reach the target again. */
  pass(): void {
    this.#mode = "pass";
  }

  /** Drops every connection and stops listening. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #accept(client: Socket, target: number): void {
    if (this.#mode === "refuse") return void client.destroy();
    this.#sockets.add(client);
    client.on("close", () => this.#sockets.delete(client));
    client.on("error", () => {});
    if (this.#mode === "silent") return;
    this.#clients.add(client);
    client.on("close", () => this.#clients.delete(client));
    const upstream = new Socket();
    this.#sockets.add(upstream);
    upstream.on("close", () => {
      this.#sockets.delete(upstream);
      client.destroy();
    });
    upstream.on("error", () => {});
    client.on("close", () => upstream.destroy());
    client.on("data", (chunk) => {
      if (!this.#stalled.has(client)) upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (!this.#stalled.has(upstream)) client.write(chunk);
    });
    upstream.connect(target, "127.0.0.1");
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
