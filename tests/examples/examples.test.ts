/**
 * The examples are the README's promise: run each one on this runtime and talk to it like
 * its demo page does.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { detectAdapter } from "../../src/adapters/detect.ts";
import type { Client } from "../../mod.ts";
import {
  assertQuiet,
  closeOf,
  message,
  open,
  runtime,
  runtimes,
  runToEnd,
  startServer,
} from "../helpers.ts";
import { RawClient } from "../raw_client.ts";

const capabilities = (await detectAdapter()).capabilities;

/** Reads messages until `expected` comes: others may broadcast before it. */
async function receive(client: Client, expected: string): Promise<void> {
  while (await message(client) !== expected);
}

test(`[${runtime}] examples/echo.ts answers twice per message and closes on "close"`, async () => {
  const server = await startServer("../examples/echo.ts");
  try {
    const page = await fetch(`${server.url}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
    const client = await open(`${server.wsUrl}/websocket`);
    await client.push("world");
    assert.equal(await message(client), "Hello world!");
    assert.equal(await message(client), "How are you, world?");
    await client.push("close");
    // close() drops the connection; Deno cannot, and closes with 1000 instead.
    const code = capabilities.terminate ? 1006 : 1000;
    assert.equal((await closeOf(client)).code, code);
  } finally {
    server.kill();
  }
});

test(`[${runtime}] examples/broadcast.ts delivers each message to every client`, async () => {
  const server = await startServer("../examples/broadcast.ts");
  try {
    const alice = await open(`${server.wsUrl}/websocket`);
    const bob = await open(`${server.wsUrl}/websocket`);
    // Each handler registers itself after upgrade(): hearing its own message proves it is in.
    await alice.push("alice here");
    await receive(alice, "Server：alice here");
    await bob.push("bob here");
    await receive(bob, "Server：bob here");
    await bob.push("hi");
    await receive(alice, "Server：hi");
    await receive(bob, "Server：hi");
    await alice.disconnect(1000);
    await bob.disconnect(1000);
  } finally {
    server.kill();
  }
});

test(`[${runtime}] examples/chat.ts keeps each room to itself (one process, no Redis)`, async () => {
  const server = await startServer("../examples/chat.ts");
  try {
    const ada = await open(`${server.wsUrl}/chat?room=tea&name=ada`);
    assert.equal(await message(ada), "ada joined");
    const bob = await open(`${server.wsUrl}/chat?room=tea&name=bob`);
    const eve = await open(`${server.wsUrl}/chat?room=coffee&name=eve`);
    assert.equal(await message(ada), "bob joined");
    assert.equal(await message(bob), "bob joined");
    assert.equal(await message(eve), "eve joined");
    await ada.push("milk?");
    assert.equal(await message(bob), "ada: milk?");
    assert.equal(await message(ada), "ada: milk?");
    await bob.disconnect(1000);
    assert.equal(await message(ada), "bob left");
    await assertQuiet(eve, 0.2, "tea's messages reached coffee");
    await ada.disconnect(1000);
    await eve.disconnect(1000);
  } finally {
    server.kill();
  }
});

test(`[${runtime}] examples/cluster.ts shares one port between its workers`, async () => {
  const server = await startServer("../examples/cluster.ts", { WORKERS: "2" });
  try {
    const pids = new Set<string>();
    for (let i = 0; i < 40 && pids.size < 2; i++) {
      // A new connection each time: the kernel picks a worker per connection.
      const answer = await RawClient.get(server.port, "/");
      pids.add(answer.body.trim());
    }
    assert.equal(pids.size, 2, `answered by ${[...pids].join(", ")}`);
    const client = await open(`${server.wsUrl}/websocket`);
    await client.push("cluster");
    assert.match(String(await message(client)), /^Hello cluster from \d+!$/);
    await client.disconnect(1000);
  } finally {
    server.kill();
  }
});

for (const clientRuntime of runtimes) {
  test(`[${runtime}] examples/client.ts on ${clientRuntime} talks to examples/echo.ts`, async () => {
    const server = await startServer("../examples/echo.ts");
    try {
      const output = await runToEnd("../examples/client.ts", clientRuntime, {
        PORT: String(server.port),
        COUNT: "2",
      });
      const lines = output.trim().split("\n");
      assert.equal(lines.filter((line) => line === "Hello hello!").length, 2, output);
      assert.equal(lines.filter((line) => line === "How are you, hello?").length, 2, output);
    } finally {
      server.kill();
    }
  });
}
