/**
 * The benchmark harness: `npm run bench` (full, a few minutes) or `npm run bench -- --quick`
 * (seconds; CI runs it to prove the harness works, with no timing assertions).
 *
 * For each workload and round it runs every server in turn (A B C A B C ...), each in a fresh
 * process pinned to CPU 0 while the load generator (`client.ts`) runs on CPU 1, then prints
 * the medians with each server's ratio to the raw API of its runtime. A full run writes
 * `docs/bench.json` and `docs/bench.svg` (shown in the README); a quick or partial one (with
 * `--servers` or `--workloads`) writes them to `scripts/bench/results/`.
 *
 * The echo workloads also run coro-ws mounted into each runtime's own server (`coro-ws-mounted/*`:
 * `attach()` to a `node:http` server, `fetch()` from `Deno.serve`, `fetch()` and `websocket` in
 * `Bun.serve`); their ratio is to coro-ws listening itself on the same runtime, in the same round.
 *
 * The "c100k" workload runs only when named (`--workloads c100k`): 100,000 idle connections to one
 * server process, opened by several clients from different 127.0.0.x source addresses (each has
 * about 28,000 ephemeral ports), then one more connection times echoes while they are held. One
 * process can hold no more connections than its open-file limit allows: the run is capped below
 * that limit, loudly, and reports what it held.
 *
 * The "redis" workload runs coro-ws only (there is no raw baseline, so no ratio): a
 * redis-server and two server processes using it as their broker, all three pinned to CPU 0,
 * the client's sender connected to one process and its receivers to the other. It is left out,
 * loudly, where redis-server is not installed.
 *
 * The "broker" workload runs coro-ws on Node through three ways across processes, on the same
 * load: a sender on process A, 100 receivers on process B, each subscribed to one of six topics
 * (two per shard of a 3-primary cluster), A publishing each message to all six, so each receiver
 * gets it once. `broker-redis` goes through one Redis (RedisBroker), `broker-cluster` through a
 * 3-primary Redis Cluster with a replica each (RedisClusterBroker, sharded pub/sub) and
 * `broker-history` through one Redis with history on (TopicHistory on a RedisHistoryStore keeping
 * 100 per topic); the ratios are to `broker-redis`. Every redis-server is pinned to CPU 0 with
 * the servers. Left out loudly without redis-server; without redis-cli, the cluster is.
 *
 * `--compare DIR` also runs coro-ws from another checkout (say `git archive COMMIT | tar -x -C DIR`,
 * with DIR/node_modules linked to this one's) as `coro-ws@compare/<runtime>`, right after each
 * coro-ws server of the selection and in the same rounds, with its ratios to the same raw runs:
 * a change measured against the code before it, on the same machine load.
 *
 *   npm run bench -- [--quick] [--rounds N] [--duration S] [--servers a,b] [--workloads a,b]
 *     [--compare DIR]
 */

import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import process from "node:process";
import { connect } from "node:net";
import {
  RedisCluster,
  redisClusterMissing,
  RedisServer,
  redisServerBinary,
} from "../../tests/redis_server.ts";
import { renderChart } from "./chart.ts";
import {
  BIN,
  PIN,
  pinned,
  ROOT,
  type RunningServer,
  type Runtime,
  startServer,
} from "./processes.ts";

type Library = "raw" | "coro-ws" | "crossws";

/** One server under test: a library on a runtime. */
export interface ServerSpec {
  name: string;
  runtime: Runtime;
  library: Library;
  file: string;
  /** Environment for the server process. */
  env?: Record<string, string>;
  /** The checkout whose scripts/bench/servers/ `file` is in (default: this one). */
  root?: string;
  /** The server whose figure, same workload and round, its ratio is to (default: raw, same runtime). */
  baseline?: string;
  /** Left out of a run that does not name it in `--servers`. */
  onlyWhenNamed?: boolean;
  /** Only these workloads run it (default: all its library runs). */
  workloads?: string[];
  /** How its processes reach each other in the "broker" workload, which runs only these. */
  broker?: "redis" | "cluster" | "history";
}

/** The server `spec`'s ratios are to. */
function baselineOf(spec: ServerSpec): string {
  return spec.baseline ?? `raw/${spec.runtime}`;
}

/** One load shape. */
export interface Workload {
  name: string;
  label: string;
  mode: "echo" | "broadcast" | "idle" | "handshake";
  path: string;
  connections: number;
  inflight: number;
  size: number;
  /** What the throughput counts. */
  unit: string;
  /** Only these libraries run it (default: all). */
  libraries?: Library[];
  /**
   * Cross-process: two processes of the server share a Redis broker; the sender connects to
   * the first, the `connections` receivers to the second.
   */
  redis?: boolean;
  /**
   * With `redis`: the servers with a `broker` run it instead, each process subscribing its
   * connections to these topics in turn and publishing every message to all of them.
   */
  topics?: string[];
  /** Idle mode: time echo round trips on one more connection while the others are held. */
  heldEcho?: boolean;
  /** Replies per message (the seed's echo sends 2). */
  replies?: number;
  /**
   * Compressed: servers start with COMPRESSION=1 and the client offers permessage-deflate;
   * the result also has the bytes per reply on the wire and the server's memory per connection.
   */
  deflate?: boolean;
}

/** The part of client.ts's report the harness keeps. */
interface ClientReport {
  throughput: number;
  p50_ms: number | null;
  p99_ms: number | null;
  errors: number;
  client_cpu: number;
  client_bound: boolean;
  /** Compressed workloads: bytes read per reply, and connections that negotiated it. */
  wire_bytes_per_reply?: number | null;
  deflate?: number | null;
}

/** What one client run reported, plus the server's memory for idle runs. */
export interface RunResult extends ClientReport {
  server: string;
  workload: string;
  round: number;
  /** Idle mode: server memory per open connection. */
  kib_per_connection?: number;
  /** Compressed workloads: server memory per connection at the end of the run. */
  rss_kib_per_connection?: number;
  /**
   * Echo and broadcast modes: the server's CPU time (every thread) per counted operation, over
   * the warm-up and the measured window. Unlike throughput, it hardly moves when other
   * processes share the server's CPU.
   */
  server_us_per_op?: number;
  /** Idle mode: connections held, and the wall time it took to open them all. */
  held?: number;
  open_s?: number;
  failure?: string;
}

/**
 * The "broker" workload's topics: their channels' slots (CRC16) put two on each primary of a
 * 3-primary cluster made by `redis-cli --cluster create`; checked when the cluster starts.
 */
const SPREAD_TOPICS = ["spread:0", "spread:1", "spread:2", "spread:3", "spread:6", "spread:7"];

const RUNTIMES: Runtime[] = ["bun", "deno", "node"];
const LIBRARIES: Library[] = ["raw", "coro-ws", "crossws"];
const SERVERS: ServerSpec[] = [
  ...LIBRARIES.flatMap((library) =>
    RUNTIMES.flatMap((runtime): ServerSpec[] => {
      const spec: ServerSpec = {
        name: `${library}/${runtime}`,
        runtime,
        library,
        file: library === "coro-ws" ? "coro.ts" : `${library}_${runtime}.ts`,
      };
      if (library !== "coro-ws") return [spec];
      // Mounted into the runtime's own server (issue 23): run right after coro-ws listening,
      // so that each round's pair is measured as close together as the machine allows.
      const mounted: ServerSpec = {
        ...spec,
        name: `coro-ws-mounted/${runtime}`,
        env: { MOUNT: "1" },
        baseline: spec.name,
        workloads: ["echo-32", "echo-32-p16"],
      };
      return [spec, mounted];
    })
  ),
  // The "broker" workload's: one Redis, a Redis Cluster, one Redis with history on (issue 28).
  ...(["redis", "cluster", "history"] as const).map((broker): ServerSpec => ({
    name: `broker-${broker}/node`,
    runtime: "node",
    library: "coro-ws",
    file: "broker.ts",
    env: { BROKER: broker, HISTORY_SIZE: "100" },
    baseline: "broker-redis/node",
    broker,
  })),
  // Raw Deno with Deno's own idle timeout (120 s, coro-ws's default, which coro-ws passes to
  // Deno.upgradeWebSocket): what Deno's ping-and-drop of silent peers costs per message. Runs
  // only when named, and its ratio is to raw Deno.
  {
    name: "raw-idle/deno",
    runtime: "deno",
    library: "raw",
    file: "raw_deno.ts",
    env: { IDLE_TIMEOUT: "120" },
    workloads: ["echo-32", "echo-32-p16", "json-4k"],
    baseline: "raw/deno",
    onlyWhenNamed: true,
  },
  // The pull model without coro-ws (servers/pull_*.ts): a promise and a queue per connection
  // under a linear handler, on the runtime's own API. Only when named; ratio to raw.
  ...(["bun", "deno"] as const).map((runtime): ServerSpec => ({
    name: `pull/${runtime}`,
    runtime,
    library: "raw",
    file: `pull_${runtime}.ts`,
    workloads: ["echo-32", "echo-32-p16", "json-4k", "idle"],
    onlyWhenNamed: true,
  })),
  // Deno's second engine: node:http and ws (`websocket_engine: "ws"`).
  {
    name: "coro-ws-ws/deno",
    runtime: "deno",
    library: "coro-ws",
    file: "coro.ts",
    env: { WEBSOCKET_ENGINE: "ws" },
  },
];

const FULL_WORKLOADS: Workload[] = [
  echo("echo-32", "echo, 100 conns, 1 in flight, 32 B", 100, 1, 32),
  echo("echo-32-p16", "echo, 100 conns, 16 in flight, 32 B", 100, 16, 32),
  echo("echo-16k", "echo, 10 conns, 16 in flight, 16 KiB", 10, 16, 16 * 1024),
  {
    name: "broadcast",
    label: "broadcast to 1,000 clients",
    mode: "broadcast",
    path: "/broadcast",
    connections: 1000,
    inflight: 4,
    size: 32,
    unit: "deliveries/s",
  },
  {
    name: "publish",
    label: "publish to 1,000 clients (pub/sub API; raw Node and Deno: a loop)",
    mode: "broadcast",
    path: "/publish",
    connections: 1000,
    inflight: 4,
    size: 32,
    unit: "deliveries/s",
  },
  {
    name: "redis",
    label: "publish via Redis, A → 100 clients on B (16 in flight; coro-ws only)",
    mode: "broadcast",
    path: "/publish",
    connections: 100,
    // Deep enough to keep three processes on one CPU busy: at 4, Bun's runs wait on latency.
    inflight: 16,
    size: 32,
    unit: "deliveries/s",
    libraries: ["coro-ws"],
    redis: true,
  },
  {
    name: "broker",
    label: "publish via one Redis, a 3-shard cluster, Redis + history: A → 100 clients on B, " +
      "6 topics (16 in flight)",
    mode: "broadcast",
    path: "/spread",
    connections: 100,
    inflight: 16,
    size: 32,
    unit: "deliveries/s",
    redis: true,
    topics: SPREAD_TOPICS,
  },
  json("json-4k", "echo of 4 KiB JSON, 100 conns, 4 in flight, uncompressed", false),
  json("json-4k-deflate", "echo of 4 KiB JSON, 100 conns, 4 in flight, permessage-deflate", true),
  {
    name: "handshake",
    label: "handshakes: connect, upgrade, one echo, close (50 at a time)",
    mode: "handshake",
    path: "/websocket",
    connections: 50,
    inflight: 1,
    size: 32,
    unit: "handshakes/s",
  },
  {
    name: "idle",
    label: "memory per idle connection (5,000 conns)",
    mode: "idle",
    path: "/websocket",
    connections: 5000,
    inflight: 0,
    size: 0,
    unit: "KiB/conn",
  },
];

/** Only when named: `--workloads c100k`. */
const C100K: Workload = {
  name: "c100k",
  label: "100,000 idle connections, then echo on one more (capped by the open-file limit)",
  mode: "idle",
  path: "/websocket",
  connections: 100_000,
  inflight: 0,
  size: 0,
  unit: "KiB/conn",
  heldEcho: true,
};

/** Small enough to finish in seconds; proves every server and mode works. */
const QUICK_WORKLOADS: Workload[] = [
  echo("echo-32", "echo, 10 conns, 1 in flight, 32 B", 10, 1, 32),
  { ...full("broadcast"), label: "broadcast to 50 clients", connections: 50 },
  { ...full("publish"), label: "publish to 50 clients", connections: 50 },
  { ...full("redis"), label: "publish via Redis, A → 20 clients on B", connections: 20 },
  { ...full("broker"), label: "publish via Redis, cluster, history: 6 topics", connections: 12 },
  { ...full("handshake"), label: "handshakes (10 at a time)", connections: 10 },
  {
    ...full("json-4k-deflate"),
    label: "echo of 4 KiB JSON, compressed, 10 conns",
    connections: 10,
  },
  { ...full("idle"), label: "memory per idle connection (200 conns)", connections: 200 },
];

function full(name: string): Workload {
  return FULL_WORKLOADS.find((workload) => workload.name === name)!;
}

/** One reply per 4 KiB JSON message, which the servers compress when `deflate` is on. */
function json(name: string, label: string, deflate: boolean): Workload {
  return {
    ...echo(name, label, 100, 4, 4096),
    path: "/deflate",
    replies: 1,
    deflate,
    // crossws has no per-message compression switch to compare with.
    libraries: ["raw", "coro-ws"],
  };
}

function echo(
  name: string,
  label: string,
  connections: number,
  inflight: number,
  size: number,
): Workload {
  return {
    name,
    label,
    mode: "echo",
    path: "/websocket",
    connections,
    inflight,
    size,
    unit: "round trips/s",
  };
}

interface Options {
  quick: boolean;
  /** Only some servers or workloads: written next to quick runs, not to docs/. */
  partial: boolean;
  rounds: number;
  duration: number;
  warmup: number;
  servers: ServerSpec[];
  workloads: Workload[];
}

function parseOptions(argv: string[]): Options {
  const value = (name: string) => {
    const at = argv.indexOf(`--${name}`);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const quick = argv.includes("--quick");
  const pick = <T extends { name: string }>(all: T[], list: string | undefined): T[] => {
    if (!list) return all.filter((item) => !("onlyWhenNamed" in item && item.onlyWhenNamed));
    const names = list.split(",");
    const unknown = names.filter((name) => !all.some((item) => item.name === name));
    if (unknown.length > 0) throw new Error(`unknown: ${unknown.join(", ")}`);
    return all.filter((item) => names.includes(item.name));
  };
  return {
    quick,
    partial: value("servers") !== undefined || value("workloads") !== undefined,
    rounds: Number(value("rounds") ?? (quick ? 1 : 3)),
    duration: Number(value("duration") ?? (quick ? 1 : 5)),
    warmup: quick ? 0.1 : 1,
    // A quick run proves the harness and coro-ws's servers; crossws waits for full runs.
    servers: withCompared(
      pick(
        quick ? SERVERS.filter((spec) => spec.library !== "crossws") : SERVERS,
        value("servers"),
      ),
      value("compare"),
    ),
    workloads: value("workloads")?.split(",").includes(C100K.name)
      ? pick([...FULL_WORKLOADS, C100K], value("workloads"))
      : pick(quick ? QUICK_WORKLOADS : FULL_WORKLOADS, value("workloads")),
  };
}

// ---------------------------------------------------------------------------------------------
// processes

/** `servers`, each coro-ws one followed by the same server from the checkout at `root`. */
function withCompared(servers: ServerSpec[], root: string | undefined): ServerSpec[] {
  if (root === undefined) return servers;
  return servers.flatMap((spec) =>
    spec.name === `coro-ws/${spec.runtime}`
      ? [spec, { ...spec, name: `coro-ws@compare/${spec.runtime}`, root: resolve(root) }]
      : [spec]
  );
}

function startSpec(spec: ServerSpec, env: Record<string, string> = {}): Promise<RunningServer> {
  const file = join(spec.root ?? ROOT, "scripts", "bench", "servers", spec.file);
  return startServer(spec.runtime, file, { ...spec.env, ...env });
}

/**
 * A redis-server for the "redis" workload, moved to CPU 0 with the servers (`taskset -a -p`:
 * every thread, since RedisServer starts it unpinned). Its pid comes from `INFO server`.
 */
async function startRedis(): Promise<RedisServer> {
  const redis = await RedisServer.start();
  try {
    await pinRedis(redis.port);
  } catch (error) {
    await redis.kill();
    throw error;
  }
  return redis;
}

/**
 * The "broker" workload's 3-primary Redis Cluster (a replica each, as the tests make it), every
 * node on CPU 0; rejects unless `topics` land on every primary.
 */
async function startCluster(topics: string[]): Promise<RedisCluster> {
  const cluster = await RedisCluster.start(3);
  try {
    for (const port of cluster.ports) await pinRedis(port);
    // RedisClusterBroker's channel for a topic (no `%` or `#` in these names).
    const shards = topics.map((topic) => cluster.primaryOf(`coro-ws:#topic:${topic}`));
    const used = new Set(shards);
    console.log(`  [broker] cluster: ${topics.length} topics on ${used.size} of 3 primaries`);
    if (used.size < 3) throw new Error(`topics on ${used.size} primaries only: ${shards}`);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/** Moves every thread of the redis-server on `port` to CPU 0 (its pid from `INFO server`). */
async function pinRedis(port: number): Promise<void> {
  if (!PIN) return;
  const info = await redisCommand(port, "INFO server");
  const pid = /process_id:(\d+)/.exec(info)?.[1];
  if (!pid || spawnSync("taskset", ["-a", "-p", "-c", "0", pid]).status !== 0) {
    throw new Error(`cannot pin redis-server (pid ${pid ?? "unknown"}) to CPU 0`);
  }
}

/** Sends one inline command to Redis and resolves with the raw reply. */
function redisCommand(port: number, line: string): Promise<string> {
  return new Promise((resolveReply, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.end(`${line}\r\nQUIT\r\n`));
    let reply = "";
    socket.on("data", (chunk: Buffer) => reply += chunk.toString());
    socket.on("error", reject);
    socket.on("close", () => resolveReply(reply));
  });
}

/** Resident memory of a process in bytes, from /proc (Linux); undefined elsewhere. */
function rssOf(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kib = /VmRSS:\s+(\d+) kB/.exec(status);
    return kib ? Number(kib[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU time in nanoseconds that every thread of a process has run (Linux); undefined elsewhere. */
function cpuNs(pid: number): number | undefined {
  try {
    let ns = 0;
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      // Its first field: time spent on a CPU, in nanoseconds. A thread gone since is skipped.
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        continue;
      }
    }
    return ns;
  } catch {
    return undefined;
  }
}

/**
 * The open-file limit every process started here inherits (Linux; Infinity elsewhere): one
 * process cannot hold more sockets, and raising it takes `ulimit -Hn` with CAP_SYS_RESOURCE.
 */
function openFileLimit(): number {
  try {
    const limits = readFileSync("/proc/self/limits", "utf8");
    const hard = /Max open files\s+\S+\s+(\S+)/.exec(limits)?.[1];
    return hard === undefined || hard === "unlimited" ? Infinity : Number(hard);
  } catch {
    return Infinity;
  }
}

/** Descriptors a server or client process needs beyond its connections. */
const SPARE_FILES = 256;
/** Each source address gives about 28,000 ephemeral ports towards the server: stay below. */
const CONNECTIONS_PER_SOURCE = 20_000;

/** How many connections an idle run can open here, and how they split into clients. */
function idleShares(wanted: number): { held: number; shares: number[] } {
  const perProcess = openFileLimit() - SPARE_FILES;
  const held = Math.min(wanted, perProcess);
  if (held < wanted) {
    console.log([
      "#".repeat(72),
      `### CAPPED: ${held} of ${wanted} connections. The open-file limit here is`,
      `### ${openFileLimit()} per process; raise it (ulimit -Hn, as root with CAP_SYS_RESOURCE)`,
      "### to hold them all.",
      "#".repeat(72),
    ].join("\n"));
  }
  const perClient = Math.min(perProcess, CONNECTIONS_PER_SOURCE);
  const shares: number[] = [];
  for (let left = held; left > 0; left -= perClient) shares.push(Math.min(left, perClient));
  return { held, shares };
}

/** One load generator process: its report, and (idle mode) the call that lets it close. */
interface RunningClient {
  report: Promise<ClientReport>;
  finish(): void;
}

function startClient(port: number, workload: Workload, options: Options, extra: {
  connections?: number;
  localAddress?: string;
  senderPort?: number;
} = {}): RunningClient {
  const args = [
    join(ROOT, "scripts", "bench", "client.ts"),
    "--url",
    `ws://127.0.0.1:${port}${workload.path}`,
    ...(extra.senderPort === undefined
      ? []
      : ["--sender-url", `ws://127.0.0.1:${extra.senderPort}${workload.path}`]),
    ...(extra.localAddress === undefined ? [] : ["--local-address", extra.localAddress]),
    ...(workload.replies === undefined ? [] : ["--replies", String(workload.replies)]),
    ...(workload.deflate ? ["--deflate", "1"] : []),
    "--mode",
    workload.mode,
    "--connections",
    String(extra.connections ?? workload.connections),
    ...(workload.mode === "idle" ? [] : [
      "--inflight",
      String(workload.inflight),
      "--size",
      String(workload.size),
      "--duration",
      String(options.duration),
      "--warmup",
      String(options.warmup),
    ]),
  ];
  const [program, programArgs] = pinned(1, process.execPath, args);
  const child = spawn(program, programArgs, { stdio: ["pipe", "pipe", "inherit"] });
  const report = new Promise<ClientReport>((resolveReport, reject) => {
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("\n")) resolveReport(JSON.parse(output.split("\n")[0]));
    });
    child.on("exit", (code) => reject(new Error(`client exited with ${code} and no report`)));
  });
  // Idle mode holds its connections until stdin ends.
  return { report, finish: () => child.stdin.end() };
}

/** A short echo run on one connection, for the latency while an idle run holds the rest. */
function heldEchoLatency(port: number, options: Options): Promise<ClientReport> {
  const probe = echo("held-echo", "", 1, 1, 32);
  const client = startClient(port, probe, { ...options, duration: 2, warmup: 0.5 });
  return client.report;
}

async function runOnce(
  spec: ServerSpec,
  workload: Workload,
  options: Options,
  round: number,
  redis?: RedisServer,
  cluster?: RedisCluster,
): Promise<RunResult> {
  const base = { server: spec.name, workload: workload.name, round };
  let server: RunningServer | undefined;
  let publisher: RunningServer | undefined;
  try {
    if (workload.redis) {
      if (!redis) throw new Error("no redis-server");
      if (spec.broker === "cluster" && !cluster) throw new Error("no Redis Cluster");
      const env: Record<string, string> = spec.broker === "cluster"
        ? { REDIS_CLUSTER: cluster!.seeds }
        : { REDIS_URL: redis.url };
      if (workload.topics) env.TOPICS = workload.topics.join(",");
      // The sender's server, then the receivers' (`server`): both on CPU 0, like redis-server.
      publisher = await startSpec(spec, env);
      server = await startSpec(spec, env);
    } else {
      // coro.ts lifts coro-ws's max_connections (10,000 by default) for large idle runs.
      const env: Record<string, string> = workload.mode === "idle"
        ? { MAX_CONNECTIONS: String(workload.connections + 16) }
        : { COMPRESSION: workload.deflate ? "1" : "0" };
      server = await startSpec(spec, env);
    }
    if (workload.mode !== "idle") {
      const baseline = rssOf(server.pid);
      const cpuBefore = cpuNs(server.pid);
      const client = startClient(server.port, workload, options, { senderPort: publisher?.port });
      const report = await client.report;
      const cpuAfter = cpuNs(server.pid);
      const operations = report.throughput * (options.duration + options.warmup);
      const cpu = cpuBefore === undefined || cpuAfter === undefined || operations === 0
        ? {}
        : { server_us_per_op: (cpuAfter - cpuBefore) / 1000 / operations };
      // Echo mode reports before it closes its connections: they are still held here.
      const rss = workload.replies === 1 ? rssOf(server.pid) : undefined;
      return {
        ...base,
        ...clientFigures(report),
        ...cpu,
        ...(rss === undefined || baseline === undefined ? {} : {
          rss_kib_per_connection: (rss - baseline) / workload.connections / 1024,
          wire_bytes_per_reply: report.wire_bytes_per_reply,
          deflate: report.deflate,
        }),
      };
    }
    // A quick run proves the harness: its memory figures are not worth the waits.
    const settle = (ms: number) => new Promise((done) => setTimeout(done, options.quick ? 0 : ms));
    await settle(300); // Let startup garbage settle.
    const baseline = rssOf(server.pid);
    const { held, shares } = idleShares(workload.connections);
    const opening = performance.now();
    const clients = shares.map((connections, i) =>
      startClient(server!.port, workload, options, {
        connections,
        localAddress: shares.length > 1 ? `127.0.0.${i + 1}` : undefined,
      })
    );
    try {
      const reports = await Promise.all(clients.map((client) => client.report));
      const openSeconds = (performance.now() - opening) / 1000;
      await settle(1000); // Let the handshakes' garbage go.
      const rss = rssOf(server.pid);
      const latency = workload.heldEcho ? await heldEchoLatency(server.port, options) : undefined;
      return {
        ...base,
        ...clientFigures(reports[0]),
        errors: reports.reduce((sum, report) => sum + report.errors, latency?.errors ?? 0),
        client_bound: reports.some((report) => report.client_bound),
        p50_ms: latency?.p50_ms ?? null,
        p99_ms: latency?.p99_ms ?? null,
        throughput: held / openSeconds,
        kib_per_connection: rss === undefined || baseline === undefined
          ? undefined
          : (rss - baseline) / held / 1024,
        held,
        open_s: openSeconds,
      };
    } finally {
      for (const client of clients) client.finish();
    }
  } catch (error) {
    return {
      ...base,
      throughput: 0,
      p50_ms: null,
      p99_ms: null,
      errors: 1,
      client_cpu: 0,
      client_bound: false,
      failure: String(error instanceof Error ? error.message : error),
    };
  } finally {
    await Promise.all([server?.stop(), publisher?.stop()]);
  }
}

/** The part of a client's report a result keeps. */
function clientFigures(report: ClientReport): ClientReport {
  const { throughput, p50_ms, p99_ms, errors, client_cpu, client_bound } = report;
  return { throughput, p50_ms, p99_ms, errors, client_cpu, client_bound };
}

// ---------------------------------------------------------------------------------------------
// summary

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The figure a workload ranks by: throughput, or memory per connection when idle. */
export function figure(result: RunResult): number {
  return result.kib_per_connection ?? result.throughput;
}

/** One server's medians in one workload. */
export interface Summary {
  workload: string;
  server: string;
  runtime: Runtime;
  library: Library;
  value: number;
  p50_ms: number | null;
  p99_ms: number | null;
  errors: number;
  client_bound: boolean;
  /** The server the ratios are to: raw on the same runtime, or coro-ws listening for mounted. */
  baseline: string;
  /** value ÷ the baseline server's, per round, then their median. */
  ratios: number[];
  ratio: number | null;
  /** Median server CPU µs per operation, where measured. */
  us_per_op: number | null;
  /** The baseline's CPU per operation ÷ this server's, per round, then their median. */
  cpu_ratio: number | null;
}

export function summarise(
  results: RunResult[],
  servers: ServerSpec[],
  workloads: Workload[],
): Summary[] {
  const summaries: Summary[] = [];
  for (const workload of workloads) {
    for (const spec of servers) {
      const runs = results.filter((r) => r.workload === workload.name && r.server === spec.name);
      if (runs.length === 0) continue;
      const baseline = baselineOf(spec);
      const raw = results.filter((r) => r.workload === workload.name && r.server === baseline);
      const ratios = runs.flatMap((run) => {
        const reference = raw.find((r) => r.round === run.round);
        return reference && figure(reference) > 0 ? [figure(run) / figure(reference)] : [];
      });
      const latencies = (key: "p50_ms" | "p99_ms") => {
        const values = runs.map((r) => r[key]).filter((v): v is number => v !== null);
        return values.length > 0 ? median(values) : null;
      };
      const cpuRatios = runs.flatMap((run) => {
        const reference = raw.find((r) => r.round === run.round);
        return reference?.server_us_per_op && run.server_us_per_op
          ? [reference.server_us_per_op / run.server_us_per_op]
          : [];
      });
      const cpuCosts = runs.flatMap((run) => run.server_us_per_op ? [run.server_us_per_op] : []);
      summaries.push({
        workload: workload.name,
        server: spec.name,
        runtime: spec.runtime,
        library: spec.library,
        baseline,
        value: median(runs.map(figure)),
        p50_ms: latencies("p50_ms"),
        p99_ms: latencies("p99_ms"),
        errors: runs.reduce((sum, r) => sum + r.errors, 0),
        client_bound: runs.some((r) => r.client_bound),
        ratios,
        ratio: ratios.length > 0 ? median(ratios) : null,
        us_per_op: cpuCosts.length > 0 ? median(cpuCosts) : null,
        cpu_ratio: cpuRatios.length > 0 ? median(cpuRatios) : null,
      });
    }
  }
  return summaries;
}

function format(value: number, unit: string): string {
  if (unit === "KiB/conn") return value.toFixed(1);
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return value.toFixed(0);
}

function printTable(summaries: Summary[], workloads: Workload[]): void {
  for (const workload of workloads) {
    const rows = summaries.filter((s) => s.workload === workload.name);
    if (rows.length === 0) continue;
    const hasRaw = rows.some((row) => row.ratio !== null);
    const mounted = rows.some((row) => row.ratio !== null && !row.baseline.startsWith("raw/"));
    const to = !hasRaw
      ? ""
      : workload.topics
      ? "; ratio to one Redis, broker-redis"
      : `; ratio to the runtime's raw API${mounted ? ", mounted: to coro-ws listening" : ""}`;
    console.log(`\n${workload.label} (${workload.unit}${to})`);
    console.log(
      `  ${"server".padEnd(20)} ${"median".padStart(9)} ${"ratio".padStart(6)} ` +
        `${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"µs/op".padStart(6)} ` +
        `${"cpu".padStart(5)}  per-round ratios`,
    );
    for (const row of rows) {
      const flags = [
        row.errors > 0 ? `${row.errors} errors` : "",
        row.client_bound ? "client-bound" : "",
      ].filter(Boolean).join(", ");
      console.log(
        `  ${row.server.padEnd(20)} ${format(row.value, workload.unit).padStart(9)} ` +
          `${(row.ratio === null ? "—" : row.ratio.toFixed(2)).padStart(6)} ` +
          `${(row.p50_ms?.toFixed(2) ?? "-").padStart(8)} ` +
          `${(row.p99_ms?.toFixed(2) ?? "-").padStart(8)} ` +
          `${(row.us_per_op?.toFixed(2) ?? "-").padStart(6)} ` +
          `${(row.cpu_ratio?.toFixed(2) ?? "-").padStart(5)}  ` +
          `${row.ratios.map((r) => r.toFixed(2)).join(" ")}${flags ? `  (${flags})` : ""}`,
      );
    }
  }
}

/** The servers that run `workload`. */
function serversOf(workload: Workload, options: Options): ServerSpec[] {
  return options.servers.filter((spec) =>
    (workload.libraries?.includes(spec.library) ?? true) &&
    (spec.broker !== undefined) === (workload.topics !== undefined) &&
    (spec.workloads?.includes(workload.name) ?? true)
  );
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (!redisServerBinary && options.workloads.some((workload) => workload.redis)) {
    options.workloads = options.workloads.filter((workload) => !workload.redis);
    console.log([
      "#".repeat(72),
      '### SKIPPED: redis-server is not installed, so the "redis" and "broker" workloads',
      "### are left out.",
      "### Install it (Debian: apt-get install -y redis-server) for the full benchmark.",
      "#".repeat(72),
    ].join("\n"));
  }
  console.log(
    `coro-ws benchmark: ${options.rounds} round(s) × ${options.servers.length} servers, ` +
      `${options.duration} s per run${PIN ? ", server on CPU 0, client on CPU 1" : ""}`,
  );
  const results: RunResult[] = [];
  for (const workload of options.workloads) {
    let servers = serversOf(workload, options);
    if (servers.length === 0) continue;
    let redis: RedisServer | undefined;
    let cluster: RedisCluster | undefined;
    try {
      if (workload.redis) redis = await startRedis();
    } catch (error) {
      console.log(`  [${workload.name}] FAILED to start redis-server: ${error}`);
    }
    if (redis && workload.topics && servers.some((spec) => spec.broker === "cluster")) {
      if (redisClusterMissing) {
        console.log(redisClusterMissing.replace("is untested here", "is left out"));
        servers = servers.filter((spec) => spec.broker !== "cluster");
      } else {
        try {
          cluster = await startCluster(workload.topics);
        } catch (error) {
          console.log(`  [${workload.name}] FAILED to start the Redis Cluster: ${error}`);
        }
      }
    }
    try {
      for (let round = 1; round <= options.rounds; round++) {
        for (const spec of servers) {
          const result = await runOnce(spec, workload, options, round, redis, cluster);
          results.push(result);
          const held = result.held === undefined || !workload.heldEcho ? "" : `, ${result.held} ` +
            `held, opened in ${result.open_s!.toFixed(1)} s, echo p50 ${result.p50_ms} ms`;
          const wire = result.rss_kib_per_connection === undefined ? "" : `, ` +
            `${result.wire_bytes_per_reply} B per reply (${result.deflate ?? 0} conns deflate), ` +
            `${result.rss_kib_per_connection.toFixed(1)} KiB/conn`;
          const shown = result.failure
            ? `FAILED: ${result.failure.split("\n")[0]}`
            : format(figure(result), workload.unit) + held + wire;
          console.log(`  [${workload.name} ${round}/${options.rounds}] ${spec.name}: ${shown}`);
        }
      }
    } finally {
      await Promise.all([redis?.kill(), cluster?.stop()]);
    }
  }
  const summaries = summarise(results, options.servers, options.workloads);
  printTable(summaries, options.workloads);
  const outDir = options.quick || options.partial
    ? join(ROOT, "scripts", "bench", "results")
    : join(ROOT, "docs");
  mkdirSync(outDir, { recursive: true });
  const record = {
    date: new Date().toISOString(),
    quick: options.quick,
    partial: options.partial,
    rounds: options.rounds,
    duration_s: options.duration,
    pinned: PIN,
    versions: versions(),
    workloads: options.workloads,
    summaries,
    results,
  };
  writeFileSync(join(outDir, "bench.json"), JSON.stringify(record, null, 2) + "\n");
  writeFileSync(join(outDir, "bench.svg"), renderChart(summaries, options.workloads));
  console.log(`\nwrote ${relative(ROOT, join(outDir, "bench.json"))} and bench.svg`);
  const failed = results.filter((r) => r.failure || r.errors > 0);
  if (failed.length > 0) console.log(`${failed.length} run(s) failed or had errors`);
  return failed.length > 0 ? 1 : 0;
}

function versions(): Record<string, string> {
  const version = (program: string, args: string[]) =>
    spawnSync(program, args, { encoding: "utf8" }).stdout.trim().split("\n")[0];
  return {
    node: process.version,
    bun: version(join(BIN, "bun"), ["--version"]),
    deno: version(join(BIN, "deno"), ["--version"]),
  };
}

process.exitCode = await main();
