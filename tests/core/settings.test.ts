/** Unit tests of `server.set()`'s validation. */

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";
import { LifecycleError, MemoryBroker, Server } from "../../mod.ts";
import { DEFAULT_SETTINGS, mergeSettings, type Settings } from "../../src/core/settings.ts";

test("mergeSettings() takes known keys and leaves the defaults alone", () => {
  const merged = mergeSettings(DEFAULT_SETTINGS, {
    websocket_idle_timeout: 30,
    allowed_origins: ["https://example.com"],
  });
  assert.equal(merged.websocket_idle_timeout, 30);
  assert.deepEqual(merged.allowed_origins, ["https://example.com"]);
  assert.deepEqual(DEFAULT_SETTINGS.allowed_origins, ["*"]);
  assert.equal(DEFAULT_SETTINGS.websocket_idle_timeout, 120);
});

test("mergeSettings() refuses unknown keys, wrong types and negative sizes", () => {
  const bad = (settings: unknown) => () => mergeSettings(DEFAULT_SETTINGS, settings as Settings);
  assert.throws(bad({ package_max_lenght: 1 }), TypeError);
  assert.throws(bad({ max_connections: "10" }), TypeError);
  assert.throws(bad({ allowed_origins: "https://example.com" }), TypeError);
  assert.throws(bad({ allowed_origins: [1] }), TypeError);
  assert.throws(bad({ websocket_idle_timeout: -1 }), RangeError);
  assert.doesNotThrow(bad({ socket_read_timeout: -1 }));
});

test("Server: each lifecycle misuse is a LifecycleError that names the call and the state", async () => {
  const server = new Server("127.0.0.1", 0);
  const started = server.start();
  await server.listening;
  const refused = (error: unknown, state: string, call: RegExp) =>
    error instanceof LifecycleError && error.state === state && call.test(error.message);
  assert.throws(() => server.set({ max_wait_time: 1 }), (e) => refused(e, "STARTED", /set\(\)/));
  assert.throws(
    () => server.useBroker(new MemoryBroker()),
    (e) => refused(e, "STARTED", /useBroker\(\)/),
  );
  await assert.rejects(server.start(), (e) => refused(e, "STARTED", /start\(\)/));
  assert.throws(
    () => server.attach(createServer()),
    (e) => refused(e, "LISTENING", /attach\(\)/),
  );
  await server.shutdown();
  await started;
  await assert.rejects(server.start(), (e) => refused(e, "SHUT_DOWN", /start\(\)/));

  const mounted = new Server("127.0.0.1", 0);
  mounted.attach(createServer());
  await assert.rejects(mounted.start(), (e) => refused(e, "MOUNTED", /start\(\)/));
  assert.throws(() => mounted.set({ max_wait_time: 1 }), (e) => refused(e, "STARTED", /set\(\)/));
  await mounted.shutdown();
});
