/**
 * Hostile requests against the HTTP and handshake layer, over real sockets: values from the
 * network that reach the response API, dot-segments, a multipart `__proto__`, stale lengths and
 * refused handshakes. After each, the server must answer (never crash) and hold no slot.
 */

import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { assertServerSettled, runtime, startServer, within } from "../helpers.ts";
import { RawClient } from "../raw_client.ts";

const http = await startServer("fixtures/http.ts");
const ws = await startServer("fixtures/delivery.ts");

async function assertAlive(): Promise<void> {
  assert.equal((await fetch(`${http.url}/form`)).status, 200, `[${runtime}] the server answers`);
}

test(`[${runtime}] hardening: a header value the runtime cannot send gets 500, and no crash`, async () => {
  const hostile = [
    "/reflect?header=%01", // a control character
    "/reflect?header=%E4%B8%AD", // beyond U+00FF
    "/reflect?status=201&header=%01", // a status set, no end(): answered after the handler
    "/reflect?status=201&header=%E4%B8%AD",
    "/reflect?to=/caf%C3%A9/%E4%B8%AD", // a redirect with non-Latin-1 characters
    "/reflect?status=103&end", // a status the web runtimes cannot send
  ];
  for (const path of hostile) {
    const answer = await fetch(`${http.url}${path}`);
    assert.equal(answer.status, 500, `[${runtime}] ${path}`);
    await answer.body?.cancel();
    await assertAlive();
  }
});

test(`[${runtime}] hardening: a redirect cannot inject a header, upgrade request or not`, async () => {
  // U+010D U+010A: written as Latin-1, they would be CR LF.
  const path = "/reflect?to=/home%C4%8D%C4%8ASet-Cookie:%20session=attacker";
  const plain = await RawClient.get(http.port, path);
  const upgrade = await RawClient.upgrade(http.port, path);
  upgrade.client.destroy();
  for (const answer of [plain, upgrade.answer]) {
    assert.equal(answer.status, 500, `[${runtime}] ${JSON.stringify(answer.headers)}`);
    assert.equal(answer.headers["set-cookie"], undefined, `[${runtime}] an injected header`);
  }
  await assertAlive();
});

test(`[${runtime}] hardening: 204 and 304 go without a body, with end() or without`, async () => {
  for (
    const path of ["/reflect?status=204", "/reflect?status=204&end", "/reflect?status=304&end"]
  ) {
    const answer = await RawClient.get(http.port, path);
    assert.equal(answer.status, Number(/status=(\d+)/.exec(path)![1]), `[${runtime}] ${path}`);
    assert.equal(answer.body, "", `[${runtime}] ${path}: no body`);
  }
  await assertAlive();
});

test(`[${runtime}] hardening: dot-segments never climb above / in routing or path_info`, async () => {
  const cases: [string, number, string][] = [
    ["/form/../path/x", 200, "/path/x"],
    ["/path/a/./b/../c", 200, "/path/a/c"],
    ["/path/%2e%2e/%2E%2E/path/y", 200, "/path/y"],
    ["/path/../../../etc/hostname", 404, ""],
  ];
  for (const [target, status, pathInfo] of cases) {
    const answer = await RawClient.get(http.port, target);
    assert.equal(answer.status, status, `[${runtime}] ${target}`);
    if (status === 200) assert.equal(answer.body, pathInfo, `[${runtime}] ${target}`);
  }
});

test(`[${runtime}] hardening: the Host header never changes the route, path_info or toWeb()`, async () => {
  for (const host of ["x/form?", "x/form#", "exa mple", "a@b/form", ""]) {
    const answer = await RawClient.get(http.port, "/path/a/b", undefined, [`Host: ${host}`]);
    assert.equal(answer.status, 200, `[${runtime}] Host: ${host}`);
    assert.equal(answer.body, "/path/a/b", `[${runtime}] Host: ${host}`);
    const web = await RawClient.get(http.port, "/web?q=1", undefined, [`Host: ${host}`]);
    assert.match(web.body, /^GET \/web\?q=1 /, `[${runtime}] toWeb() with Host: ${host}`);
  }
});

test(`[${runtime}] hardening: a compressed body goes with its own length, not the handler's`, async () => {
  const answer = await RawClient.get(http.port, "/length", undefined, ["Accept-Encoding: gzip"]);
  assert.equal(answer.headers["content-encoding"], "gzip");
  assert.equal(Number(answer.headers["content-length"]), answer.body.length, `[${runtime}]`);
});

test(`[${runtime}] hardening: a multipart part named __proto__ is a field like any other`, async () => {
  const form = new FormData();
  form.append("__proto__", new Blob(["x"]), "evil.txt");
  const answer = await fetch(`${http.url}/form`, { method: "POST", body: form });
  const { files } = await answer.json() as { files: Record<string, { name: string }> };
  assert.equal(Object.hasOwn(files, "__proto__"), true, `[${runtime}] ${JSON.stringify(files)}`);
  assert.equal(files["__proto__"].name, "evil.txt");
});

/** Sends 20 upgrade requests for `path` and resets each connection after `ms` milliseconds. */
async function leaveDuringHandshake(path: string, ms: number): Promise<void> {
  const clients = await Promise.all(
    Array.from({ length: 20 }, () => RawClient.open(ws.port)),
  );
  for (const client of clients) {
    client.socket.on("error", () => {});
    client.write(
      `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n` +
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        "Sec-WebSocket-Version: 13\r\n\r\n",
    );
    if (ms === 0) client.socket.resetAndDestroy();
  }
  await new Promise((resolve) => setTimeout(resolve, ms));
  for (const client of clients) client.socket.resetAndDestroy();
}

test(`[${runtime}] hardening: a client that leaves before upgrade() holds no handler`, async () => {
  await leaveDuringHandshake("/late-upgrade?ms=200", 50);
  await new Promise((resolve) => setTimeout(resolve, 300)); // The handlers upgrade now.
  await assertServerSettled(ws, "20 clients reset before upgrade()");
});

test(`[${runtime}] hardening: a client that leaves while the 101 is on its way holds no handler`, async () => {
  // The handler upgrades at once; the client is gone before the runtime has opened the socket.
  await leaveDuringHandshake("/echo", 0);
  await assertServerSettled(ws, "20 clients reset right after their upgrade request");
});

test(`[${runtime}] hardening: refused handshakes answer 400 and hold no handler`, async () => {
  const refusals: Record<string, string>[] = [
    { Upgrade: "websocket, x" },
    { "Sec-WebSocket-Protocol": "chat, chat" },
    { "Sec-WebSocket-Protocol": "a b" },
    { "Sec-WebSocket-Protocol": "a,,b" },
  ];
  for (const headers of refusals) {
    const { client, answer } = await RawClient.upgrade(ws.port, "/echo", headers);
    client.destroy();
    assert.equal(answer.status, 400, `[${runtime}] ${JSON.stringify(headers)}`);
  }
  await assertServerSettled(ws, "refused handshakes");
});

/** A POST to `path` that declares `length` bytes and sends one byte every `everyMs`. */
async function trickle(port: number, path: string, length: number, everyMs = 300) {
  const client = await RawClient.open(port);
  client.socket.on("error", () => {}); // The server may cut it off: expected.
  client.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\n\r\n`);
  let answer = "";
  client.socket.on("data", (data: Uint8Array) => answer += new TextDecoder().decode(data));
  const timer = setInterval(() => {
    if (!client.socket.destroyed) client.write("x");
  }, everyMs);
  void client.ended.then(() => clearInterval(timer));
  return {
    client,
    /** What the server answered, and whether it closed the connection, within `ms`. */
    answered: async (ms: number) => {
      const closed = await Promise.race([
        client.ended.then(() => true),
        new Promise<false>((resolve) => setTimeout(resolve, ms, false)),
      ]);
      clearInterval(timer);
      client.destroy();
      return { answer, closed };
    },
  };
}

test(`[${runtime}] hardening: a trickling body is answered 408 and closed after http_body_timeout`, async () => {
  const slow = await startServer("fixtures/hostile.ts", {
    SETTINGS: JSON.stringify({ http_body_timeout: 1, max_connections: 5 }),
  });
  try {
    const trickles = await Promise.all(
      Array.from({ length: 5 }, () => trickle(slow.port, "/stats", 1000)),
    );
    const answers = await Promise.all(trickles.map((t) => t.answered(4000)));
    for (const { answer, closed } of answers) {
      assert.match(answer, /^HTTP\/1\.1 408 /, `[${runtime}]`);
      // A client that keeps sending must not keep the connection.
      assert.ok(closed, `[${runtime}] the connection is still open after the 408`);
    }
    assert.equal((await fetch(`${slow.url}/stats`)).status, 200, `[${runtime}] a slot is free`);
  } finally {
    slow.kill();
  }
});

test(`[${runtime}] hardening: shutdown() ends request bodies still arriving`, async () => {
  const stopping = await startServer("fixtures/http.ts");
  try {
    const slow = await trickle(stopping.port, "/form", 1000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await fetch(`${stopping.url}/shutdown`).then((answer) => answer.text());
    const { answer, closed } = await slow.answered(4000);
    assert.match(answer, /^HTTP\/1\.1 503 /, `[${runtime}]`);
    assert.ok(closed, `[${runtime}] the connection is still open after the 503`);
    await within(stopping.exited, 6000, `[${runtime}] the process exits after shutdown()`);
  } finally {
    stopping.kill();
  }
});

test(`[${runtime}] hardening: request bodies past http_body_memory_limit get 503, and room comes back`, async () => {
  const bounded = await startServer("fixtures/hostile.ts", {
    SETTINGS: JSON.stringify({ http_body_memory_limit: 100 * 1024 }),
  });
  try {
    const first = await trickle(bounded.port, "/stats", 60_000, 60_000); // Holds 60,000 B.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const second = await fetch(`${bounded.url}/stats`, {
      method: "POST",
      body: "y".repeat(60_000),
    });
    assert.equal(second.status, 503, `[${runtime}] 120,000 B of bodies at once`);
    await second.body?.cancel();
    first.client.destroy();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const third = await fetch(`${bounded.url}/stats`, { method: "POST", body: "z".repeat(60_000) });
    assert.equal(third.status, 200, `[${runtime}] the first body's room is free again`);
    await third.body?.cancel();
  } finally {
    bounded.kill();
  }
});

test(`[${runtime}] hardening: a chunked body refused with 503 whose client then leaves does not stop the server`, async () => {
  // A body of unknown length reserves more than this limit, so each one is refused at once.
  const bounded = await startServer("fixtures/hostile.ts", {
    SETTINGS: JSON.stringify({ http_body_memory_limit: 1000 }),
  });
  try {
    const head = "POST /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        new Promise<string>((resolve) => {
          const client = connect(bounded.port, "127.0.0.1");
          let received = "";
          const timer = setTimeout(() => client.destroy(), 5000);
          client.on("error", () => {});
          client.on("data", (chunk) => received += chunk.toString("latin1"));
          client.on("close", () => {
            clearTimeout(timer);
            resolve(received);
          });
          // Leaves with the body half sent.
          client.write(`${head}5\r\nhello\r\n`, () => client.end());
        })),
    );
    for (const answer of answers) assert.match(answer, /^HTTP\/1\.1 503 /, `[${runtime}]`);
    await assertServerSettled(bounded, "after refused bodies whose clients left");
  } finally {
    bounded.kill();
  }
});

test(`[${runtime}] hardening: afterwards both servers are alive and hold no handler`, async () => {
  await assertServerSettled(http, "the HTTP fixture");
  await assertServerSettled(ws, "the WebSocket fixture");
});
