/** Unit tests of `server.set()`'s validation. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_SETTINGS, mergeSettings, type Settings } from "../src/core/settings.ts";

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
