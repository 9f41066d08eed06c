/**
 * coro-ws mounted into the servers apps already run: node:http, Express, Fastify, Hono,
 * Deno.serve and Bun.serve, each on every runtime it runs on. The conformance core runs in each
 * host over real sockets: the echo, fragments, the message limit, a refusal after an await,
 * headers and Set-Cookie on the 101, the client's real address, topics, coro-ws's own HTTP
 * routes beside the host's, and a shutdown that closes coro-ws's WebSockets with 1001 while
 * the host goes on serving.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { CLOSE, FLAG, Frame, OPCODE } from "../../mod.ts";
import { ALLOWED_ORIGIN, MOUNTED_MAX_MESSAGE } from "../fixtures/mount_routes.ts";
import {
  assertServerSettled,
  closeOf,
  message,
  open,
  runtime,
  type ServerProcess,
  startServer,
} from "../helpers.ts";
import { RawClient } from "../raw_client.ts";

/** Each host and the runtimes it runs on. */
const HOSTS: { host: string; runsOn: readonly string[] }[] = [
  { host: "node-http", runsOn: ["node", "deno", "bun"] },
  { host: "express", runsOn: ["node", "deno", "bun"] },
  { host: "fastify", runsOn: ["node", "deno", "bun"] },
  { host: "hono", runsOn: ["node", "deno", "bun"] },
  { host: "deno-serve", runsOn: ["deno"] },
  { host: "bun-serve", runsOn: ["bun"] },
];

for (const { host, runsOn } of HOSTS) {
  const name = `[${runtime}] mounted in ${host}`;
  if (!runsOn.includes(runtime)) {
    test(name, { skip: `${host} does not run on ${runtime}` }, () => {});
    continue;
  }
  let server: ServerProcess;

  test(`${name}: the host's routes and coro-ws's HTTP routes share the port`, async () => {
    server = await startServer(`fixtures/mount/${host}.ts`);
    const health = await fetch(`${server.url}/health`);
    assert.equal(health.status, 200);
    assert.equal(await health.text(), "ok", `${name}: the host answers /health`);
    const posted = await fetch(`${server.url}/swoole`, { method: "POST", body: "abc" });
    assert.equal(posted.headers.get("x-served-by"), "coro-ws", `${name}: coro-ws answers /swoole`);
    assert.equal(await posted.text(), "POST abc");
  });

  if (host === "express") {
    test(`${name}: a body a parser read before coro-ws gets 500, not a hang`, async () => {
      const answer = await fetch(`${server.url}/swoole-parsed`, { method: "POST", body: "abc" });
      const text = await answer.text();
      // Bun's node:http lets a second reader have the body again: then the handler has it all.
      const outcome = answer.status === 200 ? text : String(answer.status);
      assert.equal(outcome, runtime === "bun" ? "POST abc" : "500", `${name}: ${text}`);
      assert.equal((await fetch(`${server.url}/health`)).status, 200);
    });
  }

  test(`${name}: echo, fragments and the message limit`, async () => {
    const client = await open(`${server.wsUrl}/websocket`);
    await client.push("x");
    assert.equal(await message(client), "Hello x!");
    assert.equal(await message(client), "How are you, x?");
    await client.push("close");
    assert.equal((await closeOf(client)).code, CLOSE.NORMAL, `${name}: "close" closes`);

    const { client: raw, answer } = await RawClient.upgrade(server.port, "/echo");
    assert.equal(answer.status, 101);
    raw.write(Frame.pack("Hel", OPCODE.TEXT, FLAG.MASK));
    raw.write(Frame.pack("lo", OPCODE.CONTINUATION, FLAG.MASK | FLAG.FIN));
    assert.equal((await raw.nextFrame())?.data, "Hello", `${name}: fragments reassembled`);
    raw.write(
      Frame.pack(new Uint8Array(MOUNTED_MAX_MESSAGE + 1), OPCODE.BINARY, FLAG.MASK | FLAG.FIN),
    );
    assert.equal(await raw.closeCode(), CLOSE.MESSAGE_TOO_BIG, `${name}: over the limit`);
    raw.destroy();
  });

  test(`${name}: a refusal after an await gets 401; headers and Set-Cookie reach the 101`, async () => {
    const refused = await RawClient.upgrade(server.port, "/auth?token=wrong");
    assert.equal(refused.answer.status, 401, `${name}: refused`);
    assert.equal(refused.answer.body, "log in first");
    refused.client.destroy();

    const { client, answer } = await RawClient.upgrade(server.port, "/auth?token=secret");
    assert.equal(answer.status, 101, `${name}: accepted`);
    assert.match(answer.headers["set-cookie"] ?? "", /^session=s1; path=\/; httponly$/i);
    assert.equal(answer.headers["x-checked"], "yes");
    assert.equal((await client.nextFrame())?.data, "welcome");
    client.destroy();
  });

  test(`${name}: a page from another origin is refused with 403, as when listening`, async () => {
    const foreign = await RawClient.upgrade(server.port, "/websocket", {
      Origin: "http://evil.example",
    });
    assert.equal(foreign.answer.status, 403, `${name}: another origin`);
    foreign.client.destroy();
    const own = await RawClient.upgrade(server.port, "/websocket", { Origin: ALLOWED_ORIGIN });
    assert.equal(own.answer.status, 101, `${name}: the allowed origin`);
    own.client.destroy();
  });

  test(`${name}: the handler sees the client's own address and port`, async () => {
    const { client } = await RawClient.upgrade(server.port, "/peer");
    const seen = (await client.nextFrame())?.data;
    assert.equal(seen, `127.0.0.1 ${client.socket.localPort}`, `${name}: remote_addr and port`);
    client.destroy();
  });

  test(`${name}: topics reach every subscriber`, async () => {
    const [a, b] = await Promise.all([open(`${server.wsUrl}/room`), open(`${server.wsUrl}/room`)]);
    assert.equal(await message(a), "joined");
    assert.equal(await message(b), "joined");
    await a.push("hi all");
    assert.equal(await message(a), "hi all");
    assert.equal(await message(b), "hi all");
    await Promise.all([a.close(), b.close()]);
    await assertServerSettled(server, `${name}: after topics`);
  });

  if (host === "node-http") {
    test(`${name}: the host closing its server closes coro-ws's WebSockets with 1001`, async () => {
      const own = await startServer(`fixtures/mount/${host}.ts`);
      try {
        const client = await open(`${own.wsUrl}/websocket`);
        await client.push("x");
        assert.equal(await message(client), "Hello x!");
        assert.equal(await (await fetch(`${own.url}/host-close`)).text(), "closing");
        assert.equal((await closeOf(client)).code, CLOSE.GOING_AWAY, `${name}: 1001`);
      } finally {
        own.kill();
      }
    });

    test(`${name}: another library's WebSocket on the same http.Server keeps working`, async () => {
      const foreign = await open(`${server.wsUrl}/foreign`);
      await foreign.push("ping");
      assert.equal(await message(foreign), "foreign ping");
      await foreign.close();
    });
  }

  test(`${name}: shutdown() closes coro-ws's WebSockets with 1001; the host serves on`, async () => {
    const client = await open(`${server.wsUrl}/websocket`);
    await client.push("x");
    assert.equal(await message(client), "Hello x!");
    assert.equal(await (await fetch(`${server.url}/coro-shutdown`)).text(), "shutting down");
    assert.equal((await closeOf(client)).code, CLOSE.GOING_AWAY, `${name}: 1001`);
    const health = await fetch(`${server.url}/health`);
    assert.equal(await health.text(), "ok", `${name}: the host still answers`);
    const late = await RawClient.upgrade(server.port, "/websocket");
    assert.equal(late.answer.status, 503, `${name}: coro-ws's routes after its shutdown`);
    late.client.destroy();
    server.kill();
  });
}

test(`[${runtime}] mounted in a Bun.serve without coro-ws's websocket handlers: 400, not a hang`, {
  skip: runtime === "bun" ? false : "Bun.serve runs on Bun only",
}, async () => {
  const own = await startServer("fixtures/mount/bun-no-websocket.ts");
  try {
    const { client, answer } = await RawClient.upgrade(own.port, "/websocket");
    assert.equal(answer.status, 400);
    assert.match(answer.body, /the runtime refused it/);
    client.destroy();
    await assertServerSettled(own, "after a refused upgrade");
  } finally {
    own.kill();
  }
});
