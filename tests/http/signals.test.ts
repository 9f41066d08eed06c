/**
 * Graceful stop: SIGINT and SIGTERM, sent to a real server process with a client connected,
 * give the client 1001 and end the process with 0 (`shutdownOnSignals()`, which the examples
 * behind `npm start`, `start:deno` and `start:bun` call); a second signal ends it at once.
 */

import assert from "node:assert/strict";
import process from "node:process";
import { test } from "node:test";
import { closeOf, message, open, runtime, startServer, within } from "../helpers.ts";

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  test(`[${runtime}] ${signal} to examples/echo.ts: the client gets 1001, the process exits 0`, async () => {
    const server = await startServer("../examples/echo.ts", { PORT: "0" });
    try {
      const client = await open(`${server.wsUrl}/websocket`);
      await client.push("hi");
      assert.equal(await message(client), "Hello hi!");
      process.kill(server.pid, signal);
      assert.equal((await closeOf(client)).code, 1001);
      assert.equal(await within(server.exited, 5000, "the process's exit"), 0);
      assert.match(server.output(), new RegExp(`${signal}: shutting down`));
    } finally {
      server.kill();
    }
  });
}

test(`[${runtime}] a second signal exits at once while shutdown waits for a handler`, async () => {
  const server = await startServer("fixtures/signals.ts");
  try {
    const client = await open(`${server.wsUrl}/stuck`);
    process.kill(server.pid, "SIGTERM");
    assert.equal((await closeOf(client)).code, 1001);
    // The handler never returns and max_wait_time is 30 s: only the second signal ends it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.kill(server.pid, "SIGTERM");
    assert.equal(await within(server.exited, 3000, "the process's exit"), 143);
    assert.match(server.output(), /SIGTERM again: exiting without waiting/);
  } finally {
    server.kill();
  }
});

test(`[${runtime}] after a signal, the program's code after start() runs before the exit`, async () => {
  const server = await startServer("fixtures/signals.ts");
  try {
    process.kill(server.pid, "SIGTERM");
    assert.equal(await within(server.exited, 10_000, "the process's exit"), 0);
    assert.match(server.output(), /cleaned up/);
  } finally {
    server.kill();
  }
});

test(`[${runtime}] after a signal, a program that lingers still exits within max_wait_time`, async () => {
  const server = await startServer("fixtures/signals.ts", {
    LINGER: "1",
    SETTINGS: JSON.stringify({ max_wait_time: 1 }),
  });
  try {
    process.kill(server.pid, "SIGTERM");
    // Without the bound, the interval the program left keeps it alive for good.
    assert.equal(await within(server.exited, 15_000, "the process's exit"), 0);
    assert.match(server.output(), /cleaned up/);
  } finally {
    server.kill();
  }
});
