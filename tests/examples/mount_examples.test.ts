/**
 * The examples in examples/mount/ are docs/howto/mounting.md's promise: each one runs on the runtimes
 * its header's `Runs on:` line names, its host answers `/health`, the coro-ws server mounted in
 * it serves the echo on `/websocket`, and SIGTERM stops it cleanly.
 */

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import process from "node:process";
import { test } from "node:test";
import { type Client, CloseFrame, Frame } from "../../mod.ts";
import {
  type Closed,
  closeOf,
  message,
  open,
  runtime,
  runtimes,
  startServer,
  testPath,
  within,
} from "../helpers.ts";

const folder = testPath("../examples/mount/");
const examples = readdirSync(folder).filter((name) => name.endsWith(".ts")).sort();

/** The runtimes an example's `Runs on:` line names; fails on a missing line or unknown name. */
function runsOn(file: string): string[] {
  const line = /^\s*\*?\s*Runs on:(.*)$/m.exec(readFileSync(`${folder}${file}`, "utf8"));
  assert.ok(line, `examples/mount/${file} has no "Runs on:" line in its header`);
  const names = line[1].split(",").map((name) => name.trim());
  for (const name of names) {
    assert.ok(
      (runtimes as readonly string[]).includes(name),
      `examples/mount/${file} names "${name}" in "Runs on:${line[1]}": not one of ${runtimes}`,
    );
  }
  return names;
}

/** The Close that comes next; fails if a message comes first or nothing within 5 s. */
async function nextClose(client: Client): Promise<Closed> {
  const frame = await client.recv(5);
  if (frame instanceof CloseFrame) return { code: frame.code, reason: frame.reason };
  assert.ok(
    !(frame instanceof Frame),
    `a message instead of the close: ${frame instanceof Frame && frame.data}`,
  );
  assert.equal(frame, "", `not closed within 5 s: ${client.errMsg}`);
  return { code: 1006, reason: "" };
}

test(`[${runtime}] examples/mount/ has an example per host, each naming its runtimes`, () => {
  const hosts = ["bun-serve", "deno-serve", "express", "fastify", "hono", "node-http"];
  for (const host of hosts) assert.ok(examples.includes(`${host}.ts`), `no ${host}.ts`);
  for (const file of examples) assert.ok(runsOn(file).length > 0, file);
});

for (const file of examples) {
  const host = file.replace(/\.ts$/, "");
  const names = (() => {
    try {
      return runsOn(file);
    } catch {
      return []; // The test above says why.
    }
  })();
  const skip = names.includes(runtime) ? false : `host ${host} does not run on ${runtime}`;
  // Deno's and Bun's reporters show a skipped test without its reason.
  if (skip) console.log(`examples/mount/${file} skipped: ${skip}`);

  test(`[${runtime}] examples/mount/${file}: the host answers /health, coro-ws the echo`, {
    skip,
  }, async () => {
    const server = await startServer(`../examples/mount/${file}`);
    try {
      const health = await fetch(`${server.url}/health`);
      assert.equal(health.status, 200);
      assert.equal(await health.text(), "ok");
      const client = await open(`${server.wsUrl}/websocket`);
      await client.push("world");
      assert.equal(await message(client), "Hello world!");
      assert.equal(await message(client), "How are you, world?");
      await client.push("close");
      // The handler's close(): Deno's own WebSocket cannot drop a connection and sends 1000.
      const { code } = await nextClose(client);
      assert.ok(code === 1000 || code === 1006, `closed with ${code}, not by the handler`);
    } finally {
      server.kill();
    }
  });

  test(`[${runtime}] examples/mount/${file}: SIGTERM gives the client 1001, the process 0`, {
    skip,
  }, async () => {
    const server = await startServer(`../examples/mount/${file}`);
    try {
      const client = await open(`${server.wsUrl}/websocket`);
      await client.push("hi");
      assert.equal(await message(client), "Hello hi!");
      process.kill(server.pid, "SIGTERM");
      assert.equal(
        (await closeOf(client, 10)).code,
        1001,
        `the client's close; output:\n${server.output()}`,
      );
      const exited = await within(server.exited, 10_000, "the process's exit");
      assert.equal(exited, 0, `the exit code; output:\n${server.output()}`);
    } finally {
      server.kill();
    }
  });
}
