/**
 * The coroutine client (`Client`) over TLS, on the runtime under test, against coro-ws's WSS
 * server on Node with a self-signed certificate: refused by default with a clear errCode, and
 * with `ssl_verify_peer: false` the whole protocol runs (echo, fragments, pings), on every runtime.
 */

import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { test } from "node:test";
import { Client, ERROR, OPCODE } from "../../mod.ts";
import { makeCertificate, runtime, startServer, within } from "../helpers.ts";

const certificate = makeCertificate("client TLS tests");
const skip = certificate ? false : "openssl is missing: no certificate to serve";
const server = certificate
  ? await startServer(
    "fixtures/tls.ts",
    { SSL_CERT: certificate.cert, SSL_KEY: certificate.key },
    "node",
  )
  : undefined;
const name = `[${runtime} client, TLS]`;

test(
  `${name} a self-signed certificate is refused by default (errCode 8504)`,
  { skip },
  async () => {
    const client = new Client("127.0.0.1", server!.port, true);
    client.set({ timeout: 5 });
    assert.equal(await within(client.upgrade("/echo"), 20_000, "upgrade"), false);
    assert.equal(client.errCode, ERROR.WEBSOCKET_HANDSHAKE_FAILED, client.errMsg);
    assert.match(client.errMsg, /certificate/i);
    assert.equal(client.statusCode, 0);
  },
);

test(`${name} with ssl_verify_peer: false the whole protocol runs`, { skip }, async () => {
  const client = new Client("127.0.0.1", server!.port, true);
  client.set({ ssl_verify_peer: false, open_websocket_pong_frame: true });
  assert.equal(await within(client.upgrade("/echo"), 20_000, "upgrade"), true, client.errMsg);
  assert.equal(client.statusCode, 101);
  await client.push("over tls");
  assert.equal((await client.recv(5) as { data: unknown }).data, "over tls");
  const big = new Uint8Array(300_000).map((_, i) => i & 0xff);
  await client.push(big, OPCODE.BINARY);
  assert.deepEqual((await client.recv(5) as { data: unknown }).data, big);
  await client.push("frag", OPCODE.TEXT, false);
  await client.push("ments", OPCODE.CONTINUATION, true);
  assert.equal((await client.recv(5) as { data: unknown }).data, "fragments");
  assert.equal(client.ping("tls ping"), true);
  const pong = await client.recv(5) as { opcode: number; data: unknown };
  assert.equal(pong.opcode, OPCODE.PONG);
  assert.equal(await within(client.disconnect(), 20_000, "disconnect"), true);
});

test(`${name} done: the server stops`, () => {
  server?.kill();
  if (certificate) rmSync(certificate.dir, { recursive: true, force: true });
});
