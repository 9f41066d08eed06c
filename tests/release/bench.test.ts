/**
 * Proves the benchmark harness works end to end (`npm run bench -- --quick`): every server
 * starts, every mode runs without errors, and the results and chart are written. It asserts
 * no timings: speed is for `npm run bench` to report, not for tests to gate.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import process from "node:process";
import { runtime, testPath } from "../helpers.ts";
import { redisClusterMissing, redisMissing } from "../redis_server.ts";

test(`[${runtime}] npm run bench -- --quick runs every server in every mode`, {
  skip: runtime === "node"
    ? false
    : "the harness starts every runtime itself: it runs once, on Node",
  // About 80 s on an idle machine and 185 s beside a CPU-bound process: bounded generously, as
  // a stall fails it all the same.
  timeout: 420_000,
}, async () => {
  // The quick runs' own 1 s each: this proves the harness works, it measures nothing, but a
  // shorter run measured nothing at all (a handshake run of 0.25 s, 0 handshakes) on a
  // server pinned to a CPU that the other test files busy.
  const args = [testPath("../scripts/bench/run.ts"), "--quick"];
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Uint8Array) => output += new TextDecoder().decode(chunk));
  child.stderr.on("data", (chunk: Uint8Array) => output += new TextDecoder().decode(chunk));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  assert.equal(code, 0, output);

  const record = JSON.parse(readFileSync(testPath("../scripts/bench/results/bench.json"), "utf8"));
  const servers = [
    ...["raw", "coro-ws"].flatMap((library) =>
      ["bun", "deno", "node"].map((name) => `${library}/${name}`)
    ),
    "coro-ws-ws/deno",
    // Mounted into each runtime's own server: the echo workloads only.
    ...["bun", "deno", "node"].map((name) => `coro-ws-mounted/${name}`),
    // Cross-process through one Redis, a Redis Cluster, one Redis with history: "broker" only.
    "broker-redis/node",
    ...(redisClusterMissing ? [] : ["broker-cluster/node"]),
    "broker-history/node",
  ];
  if (redisClusterMissing) console.log(redisClusterMissing);
  const workloads = [
    "echo-32",
    "broadcast",
    "publish",
    "handshake",
    "idle",
    "json-4k-deflate",
    ...(redisMissing ? [] : ["redis", "broker"]),
  ];
  /**
   * Cross-process through Redis is coro-ws only; mounted servers run the echo only; the broker
   * servers run the "broker" workload only, and it runs nothing else.
   */
  const runs = (workload: string, server: string) =>
    (workload !== "redis" || server.startsWith("coro-ws")) &&
    (!server.startsWith("coro-ws-mounted/") || workload === "echo-32") &&
    (workload === "broker") === server.startsWith("broker-");
  for (const workload of workloads) {
    for (const server of servers.filter((s) => runs(workload, s))) {
      const row = record.summaries.find((s: { workload: string; server: string }) =>
        s.workload === workload && s.server === server
      );
      assert.ok(row, `${workload} ${server}: no result`);
      // Memory over a few hundred connections can round to nothing; throughput cannot.
      const measured = workload === "idle" ? Number.isFinite(row.value) : row.value > 0;
      assert.ok(measured, `${workload} ${server}: measured nothing (${row.value})`);
      assert.equal(row.errors, 0, `${workload} ${server}: errors`);
      if (workload === "redis") {
        assert.equal(row.ratio, null, `${server}: redis has no raw baseline`);
      }
      if (workload === "broker") {
        assert.equal(row.baseline, "broker-redis/node", `${server}: compared with one Redis`);
        assert.ok(row.ratio > 0, `${server}: no ratio to one Redis`);
      }
      if (server.startsWith("coro-ws-mounted/")) {
        const listening = server.replace("-mounted", "");
        assert.equal(row.baseline, listening, `${server}: compared with coro-ws listening`);
        assert.ok(row.ratio > 0, `${server}: no ratio to ${listening}`);
      }
    }
  }
  const chart = readFileSync(testPath("../scripts/bench/results/bench.svg"), "utf8");
  assert.match(chart, /^<svg/);
});

test(
  `[${runtime}] npm run bench:clients runs coro-ws's Client, the runtime's own and a bare pull wrapper on each runtime`,
  {
    skip: runtime === "node"
      ? false
      : "the harness starts every runtime itself: it runs once, on Node",
    timeout: 120_000,
  },
  async () => {
    const args = [
      testPath("../scripts/bench/clients.ts"),
      // One round of 1 s: a run of 0.3 s after 0.1 s of warm-up measured 0 round trips on a
      // client that the test files running beside it kept from the CPU.
      ...["--rounds", "1", "--duration", "1", "--warmup", "0.3"],
    ];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Uint8Array) => output += new TextDecoder().decode(chunk));
    child.stderr.on("data", (chunk: Uint8Array) => output += new TextDecoder().decode(chunk));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(code, 0, output);
    for (const name of ["bun", "deno", "node"]) {
      assert.match(
        output,
        // The pull wrapper's figure is its ratio to the runtime's own: above 0.00, it ran.
        new RegExp(
          `${name} +own WebSocket [1-9]\\d* round trips/s; coro-ws Client [1-9]\\d*:.*` +
            `; bare pull wrapper (?!0\\.00 )\\d+\\.\\d\\d `,
        ),
      );
    }
  },
);
