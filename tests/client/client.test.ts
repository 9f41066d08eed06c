/**
 * The coroutine client (`Client`), on the runtime under test, against coro-ws servers on every
 * runtime (three runs of this file make the nine pairs) and against `ws`'s `WebSocketServer`,
 * over real sockets: handshake failures, round trips, timeouts, the server's close and
 * disconnect, the size limit, a flood the client does not read, pings, refusals and a server that
 * stops reading. One behaviour on every runtime: no test here names a client runtime.
 */

import assert from "node:assert/strict";
import { createServer } from "node:net";
import { test } from "node:test";
import { Client, CLOSE, CloseFrame, ERROR, FLAG, OPCODE } from "../../mod.ts";
import { peek, PENDING } from "../core/fake_link.ts";
import { assertServerSettled, runtime, runtimes, startServer, within } from "../helpers.ts";

/**
 * Upgrades to each refusing route (404, 401 and 503 on every server, and `more`): false, with
 * the server's status, the headers a reconnect loop reads (WWW-Authenticate, Retry-After) and
 * the body of the 401 and 503 (`bodies`).
 */
async function assertRefusals(
  port: number,
  bodies: { 401: string; 503: string },
  ...more: [string, number][]
): Promise<void> {
  const routes: [string, number][] = [
    ["/nothing-here", 404],
    ["/unauthorized", 401],
    ["/overloaded", 503],
    ...more,
  ];
  for (const [path, status] of routes) {
    const client = new Client("127.0.0.1", port);
    assert.equal(await client.upgrade(path), false);
    assert.equal(client.errCode, ERROR.WEBSOCKET_HANDSHAKE_FAILED, client.errMsg);
    assert.equal(client.statusCode, status, `${path}: ${client.errMsg}`);
    assert.equal(client.connected, false);
    if (status === 401) assert.match(client.headers["www-authenticate"] ?? "", /^Bearer /);
    if (status === 503) assert.equal(client.headers["retry-after"], "7");
    if (status === 401 || status === 503) assert.equal(client.body, bodies[status], path);
  }
}

for (const serverRuntime of runtimes) {
  const name = `[${runtime} client, ${serverRuntime} server]`;
  // Compression on offer: only a client that asks for it gets it.
  const server = await startServer("fixtures/client_peer.ts", {
    SETTINGS: JSON.stringify({ websocket_compression: true }),
  }, serverRuntime);
  const { port } = server;

  test(`${name} text and binary round trips, subprotocol and headers`, async () => {
    const client = new Client("127.0.0.1", port);
    client.setHeaders({ Authorization: "Bearer t0k3n" });
    // Two offers: Deno.upgradeWebSocket takes them only as a browser sends them, "a, b".
    assert.equal(await client.upgrade("/echo", ["chat.v1", "chat.v2"]), true, client.errMsg);
    assert.equal(client.statusCode, 101);
    assert.equal(client.headers.upgrade?.toLowerCase(), "websocket");
    assert.equal(client.connected, true);
    assert.equal(client.protocol, "chat.v1");
    assert.equal(await client.push("hello"), true);
    assert.equal((await client.recv(5) as { data: unknown }).data, "hello");
    assert.equal(await client.push(new Uint8Array([1, 2, 3]), OPCODE.BINARY), true);
    assert.deepEqual((await client.recv(5) as { data: unknown }).data, new Uint8Array([1, 2, 3]));
    await client.push("Hel", OPCODE.TEXT, false);
    await client.push("lo", OPCODE.CONTINUATION, true);
    assert.equal((await client.recv(5) as { data: unknown }).data, "Hello");
    await client.push("authorization");
    assert.equal((await client.recv(5) as { data: unknown }).data, "Bearer t0k3n");
    // A burst pushed in one turn (written together), short text that is not ASCII among it.
    const burst = Array.from({ length: 50 }, (_, i) => `${i} héllo ✓ ${"é".repeat(i)}`);
    assert.deepEqual(
      await Promise.all(burst.map((text) => client.push(text))),
      burst.map(() => true),
    );
    for (const text of burst) assert.equal((await client.recv(5) as { data: unknown }).data, text);
    assert.equal(await client.disconnect(), true);
    assert.equal(client.connected, false);
    assert.equal(await client.recv(), "");
  });

  test(`${name} permessage-deflate both ways, where the server offers it`, async () => {
    const client = await Client.connect(`ws://127.0.0.1:${port}/echo`, {
      websocket_compression: true,
    });
    const extensions = client.headers["sec-websocket-extensions"] ?? "";
    // Deno's own server cannot negotiate it: there the same messages go uncompressed.
    if (serverRuntime !== "deno") assert.match(extensions, /^permessage-deflate/);
    for (const size of [10, 1000, 100_000]) {
      const text = "compressible ".repeat(size);
      assert.equal(await client.push(text, OPCODE.TEXT, FLAG.FIN | FLAG.COMPRESS), true);
      assert.equal((await client.recv(5) as { data: unknown }).data, text);
    }
    const bytes = new Uint8Array(50_000).map((_, i) => i % 7);
    await client.push(bytes, OPCODE.BINARY, FLAG.FIN | FLAG.COMPRESS);
    assert.deepEqual((await client.recv(5) as { data: unknown }).data, bytes);
    assert.equal(await client.disconnect(), true);
  });

  test(`${name} a recv() timeout keeps the connection (errCode 110)`, async () => {
    const client = await Client.connect(`ws://127.0.0.1:${port}/echo`);
    const timingOut = client.recv(0.2);
    // Still waiting when a timer of half the timeout, set after it, fires: timers fire in
    // order, however late a loaded machine runs them.
    assert.equal(await peek(timingOut, 100), PENDING);
    assert.equal(await timingOut, false);
    assert.equal(client.errCode, ERROR.TIMEOUT);
    await client.push("still here");
    assert.equal((await client.recv(5) as { data: unknown }).data, "still here");
    client.close();
  });

  test(`${name} the server's close() gives "", its disconnect() a CloseFrame on opt-in`, async () => {
    const closed = await Client.connect(`ws://127.0.0.1:${port}/close`);
    await closed.push("go");
    assert.equal(await within(closed.recv(), 5000, "recv"), "");

    const client = new Client("127.0.0.1", port);
    client.set({ open_websocket_close_frame: true });
    assert.equal(await client.upgrade("/bye"), true);
    await client.push("go");
    const frame = await within(client.recv(), 5000, "recv");
    assert.ok(frame instanceof CloseFrame, `got ${String(frame)}`);
    assert.equal(frame.code, 4001);
    assert.equal(frame.reason, "bye");
    assert.equal(await client.recv(), "");
  });

  test(`${name} a message over package_max_length closes with 1009`, async () => {
    const client = new Client("127.0.0.1", port);
    client.set({ package_max_length: 1024 });
    assert.equal(await client.upgrade("/big?size=4096"), true);
    await client.push("go");
    assert.equal(await within(client.recv(), 5000, "recv"), "");
    assert.equal(client.errCode, ERROR.PACKAGE_LENGTH_TOO_LARGE, client.errMsg);
    assert.match(client.errMsg, /1009/);
  });

  test(`${name} a flood the client does not read pauses reading, loses nothing`, async () => {
    const client = new Client("127.0.0.1", port);
    client.set({ websocket_max_queue: 4, package_max_length: 4096 });
    assert.equal(await client.upgrade("/flood?count=1500&size=1024"), true);
    await client.push("go");
    // 1.5 MiB unread: past the queue's byte bound (1 MiB with limits this low).
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (let i = 0; i < 1500; i++) {
      const frame = await client.recv(5);
      assert.ok(frame && typeof frame === "object", `message ${i}: ${client.errMsg}`);
      assert.equal(frame.data, `${i} `.padEnd(1024, "x"));
    }
    assert.equal(await client.disconnect(), true);
  });

  test(`${name} push() waits for a server that stops reading, then false once it leaves`, async () => {
    const client = new Client("127.0.0.1", port);
    client.set({ websocket_write_limit: 64 * 1024 });
    const id = `stall-${serverRuntime}`;
    assert.equal(await client.upgrade(`/stall?id=${id}`), true);
    const release = () => fetch(`${server.url}/release?id=${id}`).then((answer) => answer.text());
    try {
      const chunk = new Uint8Array(256 * 1024);
      let accepted = 0;
      let result: boolean | typeof PENDING = true;
      let waiting: Promise<boolean> | undefined;
      // The server reads nothing until released: pushes must start waiting once the buffers
      // are full, instead of buffering without end. A push still pending after 2 s waits for
      // the server (2 s is only how long to watch: the server never reads before its release).
      while (result === true && accepted < 200) {
        const push = client.push(chunk, OPCODE.BINARY);
        result = await peek(push, 2000);
        if (result === PENDING) waiting = push;
        else if (result) accepted++;
      }
      assert.ok(accepted < 200, `${accepted} pushes of 256 KiB were accepted`);
      if (waiting) {
        // Released, the server leaves: the waiting push resolves false.
        assert.equal(await release(), "released");
        assert.equal(await within(waiting, 10_000, "the waiting push()"), false);
      } else {
        // Deno's server cannot stop reading: it takes the flood until its byte bound closes
        // the connection (1008), so only a server that pauses makes the client's push() wait.
        assert.equal(serverRuntime, "deno", "push() did not wait for the server");
        assert.equal(result, false, "push() never resolved false");
      }
    } finally {
      await release();
    }
  });

  test(`${name} pings and pongs both ways`, async () => {
    const client = new Client("127.0.0.1", port);
    client.set({ open_websocket_ping_frame: true, open_websocket_pong_frame: true });
    assert.equal(await client.upgrade("/pings"), true);
    if (serverRuntime !== "deno") {
      const ping = await client.recv(5) as { opcode: number; data: unknown };
      assert.equal(ping.opcode, OPCODE.PING);
      assert.equal(new TextDecoder().decode(ping.data as Uint8Array), "from server");
      // The client answered by itself, as the server side does.
      const told = await client.recv(5) as { data: unknown };
      assert.equal(told.data, "server got pong: from server");
    }
    assert.equal(client.ping("from client"), true);
    const pong = await client.recv(5) as { opcode: number; data: unknown };
    assert.equal(pong.opcode, OPCODE.PONG);
    assert.equal(new TextDecoder().decode(pong.data as Uint8Array), "from client");
    client.close();
  });

  test(`${name} a refused upgrade is false with the server's status, headers and body`, async () => {
    await assertRefusals(port, { 401: "no", 503: "no" }, ["/forbidden", 403]);
  });

  test(`${name} afterwards the server is alive and holds no handler or connection`, async () => {
    await assertServerSettled(server, `client tests against ${serverRuntime}`);
  });
}

test(`[${runtime} client] a server nobody here wrote: ws's WebSocketServer on Node, refusals and compression`, async () => {
  const server = await startServer("fixtures/client_ws_server.ts", {}, "node");
  try {
    const client = await Client.connect(`ws://127.0.0.1:${server.port}/`);
    await client.push("interop");
    assert.equal((await client.recv(5) as { data: unknown }).data, "interop");
    await client.push(new Uint8Array([9]), OPCODE.BINARY);
    assert.deepEqual((await client.recv(5) as { data: unknown }).data, new Uint8Array([9]));
    assert.equal(await client.disconnect(CLOSE.NORMAL, ""), true);
    await assertRefusals(server.port, { 401: "Unauthorized", 503: "Service Unavailable" });

    const compressed = await Client.connect(`ws://127.0.0.1:${server.port}/`, {
      websocket_compression: true,
    });
    assert.match(compressed.headers["sec-websocket-extensions"] ?? "", /^permessage-deflate/);
    const text = "compressible ".repeat(1000);
    await compressed.push(text);
    assert.equal((await compressed.recv(5) as { data: unknown }).data, text);
    assert.equal(await compressed.disconnect(), true);
  } finally {
    server.kill();
  }
});

test(`[${runtime} client] nothing listening, or no answer: false with errCode and no wait past timeout`, async () => {
  const silent = createServer(() => {}); // Accepts and says nothing.
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const silentPort = (silent.address() as { port: number }).port;
  const closedPort = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const free = (probe.address() as { port: number }).port;
      probe.close(() => resolve(free));
    });
  });
  try {
    const refused = new Client("127.0.0.1", closedPort);
    assert.equal(await refused.upgrade("/"), false);
    assert.equal(
      refused.errCode,
      ERROR.CONNECTION_REFUSED,
      refused.errMsg,
    );
    const client = new Client("127.0.0.1", silentPort);
    client.set({ timeout: 0.5 });
    const upgrading = client.upgrade("/");
    // Its own 0.5 s, not the default 5 s: it gives up before a 3 s timer set after it fires
    // (timers fire in order, however late a loaded machine runs them).
    assert.equal(await peek(upgrading, 3000), false);
    assert.equal(client.errCode, ERROR.TIMEOUT, client.errMsg);
  } finally {
    silent.close();
  }
});

test(`[${runtime} client] bad arguments are refused, naming the method`, async () => {
  assert.throws(() => new Client("", 80), /^TypeError: new Client\(\): pass the server's host/);
  assert.throws(() => new Client("h", 70000), /^TypeError: new Client\(\): pass a port/);
  const client = new Client("127.0.0.1", 9);
  assert.throws(() => client.set({ timeout: -1 }), /^RangeError: client.set\(\): "timeout"/);
  assert.throws(
    () => client.set({ max_connections: 1 } as never),
    /^TypeError: client.set\(\): unknown setting "max_connections"/,
  );
  assert.throws(() => client.setHeaders({ "X-A": "a\r\nB: c" }), /^TypeError: setHeaders\(\)/);
  await assert.rejects(client.upgrade("no-slash"), /^TypeError: upgrade\(\): pass a path/);
  await assert.rejects(Client.connect("http://x/"), /^TypeError: Client.connect\(\)/);
  assert.equal(await client.push("x"), false);
  assert.equal(client.errCode, ERROR.WEBSOCKET_UNCONNECTED);
});
