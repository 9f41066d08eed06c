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
  #child: ChildProcess;

  private constructor(port: number, child: ChildProcess) {
    this.port = port;
    this.#child = child;
  }

  /** Starts redis-server on a free loopback port. */
  static async start(): Promise<RedisServer> {
    const { port, child } = await startOnFreePort(() => [], { bus: false });
    return new RedisServer(port, child);
  }

  /** `redis://127.0.0.1:PORT` */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it again on its port after `kill()`; resolves once it accepts connections. */
  async restart(): Promise<void> {
    this.#child = spawnRedis(this.port, []);
    if (!await serving(this.port, this.#child)) {
      throw new Error(`redis-server did not start again on ${this.port}`);
    }
  }

  /** Kills it at once (SIGKILL), as a crash would; resolves once it has exited. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child.exitCode !== null || child.signalCode !== null) return;
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

/** What every redis-server here runs with: loopback only, no persistence. */
function serverArgs(port: number): string[] {
  return ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
}

/**
 * Where redis-server ports are drawn from: below Linux's ephemeral range (32768 and up), where
 * every server that listens on port 0 lands and every outgoing connection's port comes from.
 * Test files run side by side, so a port found free could otherwise be taken by one of their
 * servers before redis-server binds it, or while a test has killed it to start it again on the
 * same port. A cluster node also listens on its port + 10000, below that range too.
 */
const PORT_RANGE = { from: 10_000, to: 22_767 };

/** A random port in {@link PORT_RANGE} free right now on 127.0.0.1 (and its bus port, `bus`). */
async function freePort(bus: boolean): Promise<number> {
  for (;;) {
    const port = PORT_RANGE.from +
      Math.floor(Math.random() * (PORT_RANGE.to - PORT_RANGE.from + 1));
    if (await canListen(port) && (!bus || await canListen(port + 10_000))) return port;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
}

/** Starts redis-server on `port`, killed with this process. */
function spawnRedis(port: number, extraArgs: string[]): ChildProcess {
  const child = spawn(redisServerBinary!, [...serverArgs(port), ...extraArgs], {
    stdio: "ignore",
  });
  child.unref();
  process.on("exit", () => child.kill("SIGKILL"));
  return child;
}

/**
 * Starts redis-server on a free port, and on another if another redis-server of a test file
 * running beside this one took the same port first.
 */
async function startOnFreePort(
  extraArgs: (port: number) => string[],
  { bus }: { bus: boolean },
): Promise<{ port: number; child: ChildProcess }> {
  for (let attempt = 1;; attempt++) {
    const port = await freePort(bus);
    const child = spawnRedis(port, extraArgs(port));
    if (await serving(port, child)) return { port, child };
    child.kill("SIGKILL");
    if (attempt === 10) throw new Error(`redis-server did not start (10 ports tried)`);
  }
}

/**
 * Whether `child` serves on `port` within 10 s: the redis-server answering there says it is
 * that process, so a port taken by another server is found, not talked to.
 */
async function serving(port: number, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) {
    if (await processOn(port) === child.pid) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

/** The process id the redis-server on `port` reports (INFO server), if one answers. */
function processOn(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let reply = "";
    const done = (pid: number | undefined) => {
      socket.destroy();
      resolve(pid);
    };
    socket.setTimeout(1000, () => done(undefined));
    socket.once("error", () => done(undefined));
    socket.on("data", (chunk) => {
      reply += chunk.toString("latin1");
      const match = /process_id:(\d+)\r\n/.exec(reply);
      if (match) done(Number(match[1]));
    });
    socket.on("end", () => done(undefined));
    socket.connect(port, "127.0.0.1", () => socket.write("INFO server\r\n"));
  });
}

/** The redis-cli binary (Debian package `redis-tools`), or undefined when it is not installed. */
export const redisCliBinary: string | undefined = ["/usr/bin/redis-cli", "redis-cli"]
  .find((candidate) => spawnSync(candidate, ["--version"]).status === 0);

/** Why the Redis Cluster tests cannot run here, to print loudly; undefined when they can. */
export const redisClusterMissing: string | undefined = redisMissing ??
  (redisCliBinary ? undefined : [
    "",
    "#".repeat(72),
    "### SKIPPED: redis-cli is not installed, so the Redis Cluster broker is untested here.",
    "### Install it (Debian: apt-get install -y redis-tools) or run bash .ci/run.",
    "#".repeat(72),
    "",
  ].join("\n"));

/** One node of a {@link RedisCluster}: its port and whether it serves slots now. */
export interface ClusterNode {
  port: number;
  role: "master" | "slave";
}

/**
 * A real Redis Cluster on loopback: `primaries` primaries and as many replicas, each a
 * `redis-server --cluster-enabled yes`, joined by `redis-cli --cluster create`. A node that
 * misses 1 s of heartbeats counts as failed, so a killed primary's replica takes over within a
 * few seconds. No persistence; every node is killed with the process that started it.
 */
export class RedisCluster {
  readonly #nodes: Map<number, ChildProcess>;
  readonly #dir: string;

  private constructor(nodes: Map<number, ChildProcess>, dir: string) {
    this.#nodes = nodes;
    this.#dir = dir;
  }

  /** Starts the nodes, creates the cluster, and resolves once every node says it is ok. */
  static async start(primaries = 3): Promise<RedisCluster> {
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(`${tmpdir()}/coro-ws-cluster-`);
    const started = await Promise.all(
      Array.from({ length: primaries * 2 }, () =>
        startOnFreePort((port) => [
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          `nodes-${port}.conf`,
          "--cluster-node-timeout",
          "1000",
          // A replica takes over however long ago it last heard from its primary, and its
          // first sync starts at once (the default waits 5 s for more replicas to share it).
          "--cluster-replica-validity-factor",
          "0",
          "--repl-diskless-sync-delay",
          "0",
          "--dir",
          dir,
        ], { bus: true })),
    );
    const ports = started.map(({ port }) => port);
    const nodes = new Map(started.map(({ port, child }) => [port, child]));
    const cluster = new RedisCluster(nodes, dir);
    const deadline = Date.now() + 20_000;
    const created = spawnSync(redisCliBinary!, [
      "--cluster",
      "create",
      ...ports.map((port) => `127.0.0.1:${port}`),
      "--cluster-replicas",
      "1",
      "--cluster-yes",
    ], { encoding: "utf8", timeout: 20_000 });
    if (created.status !== 0) {
      throw new Error(`redis-cli --cluster create failed:\n${created.stdout}${created.stderr}`);
    }
    await cluster.settled(deadline);
    // Every replica in sync: one that never was cannot be promoted.
    while (
      !ports.every((port) =>
        !/role:slave/.test(cluster.cli(port, "info", "replication")) ||
        /master_link_status:up/.test(cluster.cli(port, "info", "replication"))
      )
    ) {
      if (Date.now() > deadline) throw new Error("the Redis Cluster's replicas did not sync");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return cluster;
  }

  /** Every node's port, primaries and replicas. */
  get ports(): number[] {
    return [...this.#nodes.keys()];
  }

  /** `host:port` of every node, comma separated: the seeds REDIS_CLUSTER takes. */
  get seeds(): string {
    return this.alive().map((port) => `127.0.0.1:${port}`).join(",");
  }

  /** The ports of the nodes still running. */
  alive(): number[] {
    return [...this.#nodes].filter(([, child]) => child.exitCode === null && !child.signalCode)
      .map(([port]) => port);
  }

  /** Runs redis-cli against the node on `port`, returning what it printed. */
  cli(port: number, ...args: string[]): string {
    const result = spawnSync(redisCliBinary!, ["-p", String(port), ...args], {
      encoding: "utf8",
      timeout: 10_000,
    });
    return result.stdout ?? "";
  }

  /** The primaries serving slots now, as the node on `port` (default: any alive one) sees it. */
  primaries(port = this.alive()[0]): number[] {
    return this.cli(port, "cluster", "nodes").split("\n")
      .filter((line) =>
        /\bmaster\b/.test(line) && !/\bfail\b/.test(line) && /\d+-\d+|\s\d+$/.test(line)
      )
      .map((line) => Number(/:(\d+)@/.exec(line)![1]));
  }

  /** The primary that serves `key`'s slot now. */
  primaryOf(key: string): number {
    const slot = Number(this.cli(this.alive()[0], "cluster", "keyslot", key).trim());
    const shards = this.cli(this.alive()[0], "--json", "cluster", "slots");
    for (const [from, to, [, port]] of JSON.parse(shards) as [number, number, [string, number]][]) {
      if (slot >= from && slot <= to) return port;
    }
    throw new Error(`no primary serves slot ${slot}`);
  }

  /**
   * Kills the node on `port` at once (SIGKILL), as a crash would, and resolves once every
   * other node sees the cluster whole again (its replica promoted, if it was a primary).
   */
  async kill(port: number): Promise<void> {
    const child = this.#nodes.get(port)!;
    if (child.exitCode === null && !child.signalCode) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.ref();
      child.kill("SIGKILL");
      await exited;
    }
    // The others first see it fail (1 s without heartbeats), then its replica wins an election.
    const deadline = Date.now() + 30_000;
    while (this.#servesSlots(port)) {
      if (Date.now() > deadline) throw new Error(`no replica took over from ${port}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await this.settled(deadline);
  }

  /** Whether any alive node still sees the node on `port` as a primary of some slots. */
  #servesSlots(port: number): boolean {
    return this.alive().some((other) => {
      const slots = JSON.parse(this.cli(other, "--json", "cluster", "slots") || "[]");
      return (slots as [number, number, [string, number]][]).some(([, , [, p]]) => p === port);
    });
  }

  /** Kills every node and removes their files. */
  async stop(): Promise<void> {
    for (const port of this.alive()) {
      const child = this.#nodes.get(port)!;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.ref();
      child.kill("SIGKILL");
      await exited;
    }
    const { rmSync } = await import("node:fs");
    rmSync(this.#dir, { recursive: true, force: true });
  }

  /** Waits until every alive node reports `cluster_state:ok` and all slots served by live nodes. */
  async settled(deadline: number): Promise<void> {
    while (true) {
      const ok = this.alive().every((port) => {
        const info = this.cli(port, "cluster", "info");
        return /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info);
      });
      if (ok) return;
      if (Date.now() > deadline) {
        throw new Error(
          `the Redis Cluster did not settle:\n${this.cli(this.alive()[0], "cluster", "nodes")}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
