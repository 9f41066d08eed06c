/**
 * Operations: every failure the server must report gives one line through the logger given to
 * `useLogger()`, the access log has one line per request and per WebSocket, and `metrics()` /
 * `metricsText()` count what happened. Over real sockets against tests/fixtures/observe.ts.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { FLAG, Frame, OPCODE, type ServerMetrics } from "../../mod.ts";
import {
  assertServerSettled,
  closeOf,
  message,
  open,
  runtime,
  startServer,
  within,
} from "../helpers.ts";
import { RawClient } from "../raw_client.ts";
import parsePrometheusTextFormat from "parse-prometheus-text-format";

const server = await startServer("fixtures/observe.ts");

/**
 * The lines logged since the last call, the reading of /log itself left out. None while every
 * connection slot is taken (503): the server frees a slot once it has seen the connection end,
 * which can come after the client has its Close back.
 */
async function logged(): Promise<string[]> {
  const answer = await fetch(`${server.url}/log`);
  if (answer.status === 503) {
    await answer.body?.cancel();
    return [];
  }
  const lines = await answer.json() as string[];
  return lines.filter((line) => !/ \/log /.test(line));
}

/** Waits until a logged line matches `pattern` (lines logged after a response may lag). */
async function loggedMatching(pattern: RegExp, ms = 3000): Promise<string[]> {
  const deadline = Date.now() + ms;
  const seen: string[] = [];
  while (Date.now() < deadline) {
    seen.push(...await logged());
    if (seen.some((line) => pattern.test(line))) return seen;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`no line matching ${pattern} within ${ms} ms; logged: ${JSON.stringify(seen)}`);
}

function only(lines: string[], pattern: RegExp): string {
  const matching = lines.filter((line) => pattern.test(line));
  assert.equal(matching.length, 1, `one line matching ${pattern}: ${JSON.stringify(lines)}`);
  return matching[0];
}

test(`[${runtime}] a handler that throws: one error line with the stack, 500, and counted`, async () => {
  await logged();
  const response = await fetch(`${server.url}/throw?token=secret`);
  assert.equal(response.status, 500);
  await response.body?.cancel();
  const lines = await loggedMatching(/threw/);
  const line = only(lines, /^error coro-ws: the handler for GET \/throw \(fd \d+\) threw: /);
  assert.match(line, /handler bug/);
  assert.doesNotMatch(lines.join("\n"), /secret/, "the query string is never logged");
  const metrics = await (await fetch(`${server.url}/metrics.json`)).json() as ServerMetrics;
  assert.ok(metrics.handler_errors_total >= 1);
});

test(`[${runtime}] a forgotten end() and upgrade(), a failed sendfile(): one error line each`, async () => {
  await logged();
  assert.equal((await fetch(`${server.url}/forget`)).status, 500);
  only(
    await loggedMatching(/returned without/),
    /^error .*GET \/forget .*returned without end\(\)/,
  );
  const { client, answer } = await RawClient.upgrade(server.port, "/forget");
  assert.equal(answer.status, 500);
  client.destroy();
  only(
    await loggedMatching(/returned without/),
    /^error .*GET \/forget .*returned without upgrade\(\) or end\(\)/,
  );
  const missing = await fetch(`${server.url}/missing-file`);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  only(await loggedMatching(/sendfile/), /^error coro-ws: sendfile\(\) for fd \d+: Cannot send/);
});

test(`[${runtime}] limits hit (413, 431, 503, 408, 1009): one warning each`, async () => {
  await logged();
  const big = await fetch(`${server.url}/upload`, { method: "POST", body: "x".repeat(4096) });
  assert.equal(big.status, 413);
  await big.body?.cancel();
  only(await loggedMatching(/ 413 /), /^warn coro-ws: 413 for POST \/upload: /);

  const head = await RawClient.get(server.port, "/hello", undefined, [
    `X-Big: ${"y".repeat(20_000)}`,
  ]);
  assert.ok(head.status === 431 || head.status === 400, `status ${head.status}`);
  // Node and Bun refuse a head past their own limit before coro-ws sees it; Deno passes it on.
  if (runtime === "deno") only(await loggedMatching(/ 431 /), /^warn coro-ws: 431 for GET/);

  const held = await Promise.all([1, 2, 3, 4].map(() => open(`${server.wsUrl}/hold`)));
  const refused = await fetch(`${server.url}/hello`);
  assert.equal(refused.status, 503);
  await refused.body?.cancel();
  // The log can be read once a slot is free again.
  const answered = await Promise.all(held.map((client) => client.disconnect(1000)));
  assert.deepEqual(answered, [true, true, true, true], "each held connection closed cleanly");
  only(await loggedMatching(/ 503 /), /^warn coro-ws: 503 for GET \/hello: Too many connections/);

  const slow = await RawClient.open(server.port);
  slow.write("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc");
  only(await loggedMatching(/ 408 /), /^warn coro-ws: 408 for POST \/upload: /);
  slow.destroy();

  const ws = await open(`${server.wsUrl}/echo`);
  await ws.push("z".repeat(2048));
  assert.equal((await closeOf(ws)).code, 1009);
  only(await loggedMatching(/1009/), /^warn coro-ws: WebSocket \/echo closed with 1009/);
});

test(`[${runtime}] publish() that skips slow consumers warns once, with the count`, async () => {
  await logged();
  const { client } = await RawClient.upgrade(server.port, "/room");
  client.stopReading();
  await new Promise((resolve) => setTimeout(resolve, 200)); // The handler subscribes.
  let skipped = 0;
  for (let round = 0; round < 50 && skipped === 0; round++) {
    skipped = Number(await (await fetch(`${server.url}/flood-room`)).text());
  }
  assert.ok(skipped > 0, "the slow consumer was never skipped");
  const line = only(
    await loggedMatching(/skipped/),
    /^warn coro-ws: publish\(\) or broadcast\(\) skipped \d+ message/,
  );
  assert.match(line, /websocket_write_limit/);
  const metrics = await (await fetch(`${server.url}/metrics.json`)).json() as ServerMetrics;
  assert.ok(metrics.publish_skipped_total >= skipped);
  client.destroy();
});

test(`[${runtime}] a broker outage goes to the server's logger`, async () => {
  await logged();
  await (await fetch(`${server.url}/outage`)).text();
  only(await loggedMatching(/broker/), /^error coro-ws: broker unreachable \(test\)/);
});

test(`[${runtime}] the access log: one line per request and per WebSocket, nothing secret`, async () => {
  await logged();
  await (await fetch(`${server.url}/hello?session=secret`, {
    headers: { Cookie: "sid=secret", Authorization: "Bearer secret" },
  })).text();
  only(await loggedMatching(/GET \/hello/), /^info GET \/hello 200 5 B \d+\.\d ms$/);
  const ws = await open(`${server.wsUrl}/echo`);
  await ws.push("abc");
  assert.equal(await message(ws), "abc");
  assert.equal(await ws.disconnect(4001, "bye"), true, "the server answered the Close");
  const line = only(
    await loggedMatching(/^info WS/),
    /^info WS \/echo 4001 closed by client after /,
  );
  assert.match(line, /in 1 messages 3 B, out 1 messages 3 B$/);
  const all = await logged();
  assert.doesNotMatch(JSON.stringify(all) + line, /secret/);
});

test(`[${runtime}] metrics() and metricsText() count responses, messages, bytes and closes`, async () => {
  const metrics = async () =>
    await (await fetch(`${server.url}/metrics.json`)).json() as ServerMetrics;
  const before = await metrics();
  const { client } = await RawClient.upgrade(server.port, "/echo");
  // 6 characters, 9 bytes of UTF-8: the metrics count bytes.
  client.write(Frame.pack("héllo€", OPCODE.TEXT, FLAG.FIN | FLAG.MASK));
  assert.equal((await client.nextFrame())?.data, "héllo€");
  client.write(Frame.pack(new Uint8Array([0x0f, 0xa0]), OPCODE.CLOSE, FLAG.FIN | FLAG.MASK));
  await within(client.ended, 5000, "close");
  const deadline = Date.now() + 3000;
  let after = before;
  while (Date.now() < deadline) {
    after = await metrics();
    if (
      (after.websocket_closes_total["4000"] ?? 0) > (before.websocket_closes_total["4000"] ?? 0)
    ) {
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal(
    after.websocket_closes_total["4000"] - (before.websocket_closes_total["4000"] ?? 0),
    1,
  );
  assert.equal(
    after.websocket_messages_received_total - before.websocket_messages_received_total,
    1,
  );
  assert.equal(after.websocket_messages_sent_total - before.websocket_messages_sent_total, 1);
  assert.equal(after.websocket_bytes_received_total - before.websocket_bytes_received_total, 9);
  assert.equal(after.websocket_bytes_sent_total - before.websocket_bytes_sent_total, 9);
  assert.equal(after.http_responses_total["1xx"] - before.http_responses_total["1xx"], 1);
  assert.ok(after.http_responses_total["2xx"] > before.http_responses_total["2xx"]);
  assert.equal(after.broker_up, 1);
  // The Prometheus text, read by a real parser, says the same.
  const families = parsePrometheusTextFormat(await (await fetch(`${server.url}/metrics`)).text());
  const sample = (name: string, labels: Record<string, string> = {}) => {
    const family = families.find((f) => f.name === `coro_ws_${name}`);
    assert.ok(family, `no family coro_ws_${name}`);
    const found = family.metrics.find((m) =>
      Object.entries(labels).every(([key, value]) => m.labels?.[key] === value)
    );
    assert.ok(found, `no sample of coro_ws_${name} with ${JSON.stringify(labels)}`);
    return { type: family.type, value: Number(found.value) };
  };
  assert.deepEqual(sample("websockets_open"), { type: "GAUGE", value: after.websockets_open });
  assert.equal(sample("http_responses_total", { class: "1xx" }).type, "COUNTER");
  assert.ok(
    sample("http_responses_total", { class: "1xx" }).value >= after.http_responses_total["1xx"],
  );
  assert.ok(sample("websocket_closes_total", { code: "4000" }).value >= 1);
  assert.ok(
    sample("websocket_messages_received_total").value >= after.websocket_messages_received_total,
  );
  assert.equal(sample("broker_up").value, 1);
  for (const family of families) {
    assert.ok(family.help.length > 0, `${family.name} has no HELP`);
  }
  // The byte counters say the unit they count in: UTF-8 bytes, as counted above.
  for (const direction of ["received", "sent"]) {
    const family = families.find((f) => f.name === `coro_ws_websocket_bytes_${direction}_total`);
    assert.match(family?.help ?? "", /\(text as UTF-8\)/, direction);
  }
});

test(`[${runtime}] useLogger() refuses what is not a logger, naming the method`, async () => {
  const { Server } = await import("../../mod.ts");
  const server = new Server("127.0.0.1", 0);
  assert.throws(
    () => server.useLogger({ error() {} } as never),
    /^TypeError: useLogger\(\): pass a logger with error, warn and info methods/,
  );
});

test(`[${runtime}] afterwards the server is alive and holds no handler or connection`, async () => {
  await assertServerSettled(server, "observability tests");
});

test(`[${runtime}] a path from the network cannot forge a log line`, async () => {
  await logged();
  // Raw UTF-8 in the target: U+2028 ends a line in many log viewers, and Deno lets it through.
  const client = await RawClient.open(server.port);
  let answer = "";
  client.socket.on("data", (chunk: Uint8Array) => answer += new TextDecoder().decode(chunk));
  client.write(
    new TextEncoder().encode(
      "GET /throw\u2028error\u0085forged HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ),
  );
  await within(client.ended, 10_000, "the server closes the connection");
  // Node's and Bun's parsers refuse the target before coro-ws sees it; Deno hands it over.
  if (!answer.startsWith("HTTP/1.1 500")) return;
  const lines = await loggedMatching(/^info /);
  for (const line of lines) {
    const head = line.split("\n")[0]; // A stack below the line is the server's own text.
    // deno-lint-ignore no-control-regex -- control characters are what this looks for
    assert.doesNotMatch(head, /[\x00-\x1f\x7f\x85\u2028\u2029]/, `raw in ${JSON.stringify(head)}`);
  }
});
