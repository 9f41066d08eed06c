/**
 * TLS: HTTPS and a WebSocket over it (WSS), with a throw-away self-signed certificate made by
 * openssl at run time (no private key is committed).
 */

import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { test } from "node:test";
import { FLAG, Frame, OPCODE, Server } from "../../mod.ts";
import { makeCertificate, runtime, startServer } from "../helpers.ts";
import { RawClient } from "../raw_client.ts";

const certificate = makeCertificate("TLS tests");

// The Client over TLS (refused by default, accepted with ssl_verify_peer: false) is
// tests/client/client_tls.test.ts; the last test here removes the certificate.
test(`[${runtime}] TLS: HTTPS and WSS with ssl_cert_file and ssl_key_file`, {
  skip: certificate ? false : "openssl is missing: no certificate to serve",
}, async () => {
  const { dir, cert, key } = certificate!;
  const server = await startServer("fixtures/tls.ts", { SSL_CERT: cert, SSL_KEY: key });
  try {
    const ca = readFileSync(cert, "utf8");
    const answer = await RawClient.get(server.port, "/", ca);
    assert.equal(answer.status, 200);
    assert.equal(answer.body, "secure hello");
    const web = await RawClient.get(server.port, "/web?q=1", ca);
    assert.equal(web.body, "https://127.0.0.1/web?q=1", "toWeb() under TLS"); // Host as sent

    const { client, answer: handshake } = await RawClient.upgrade(server.port, "/echo", {}, ca);
    assert.equal(handshake.status, 101);
    client.write(Frame.pack("over tls", OPCODE.TEXT, FLAG.FIN | FLAG.MASK));
    assert.equal((await client.nextFrame())?.data, "over tls");
    client.destroy();

    // Plain HTTP to the TLS port is not answered as HTTP.
    const plain = await RawClient.get(server.port, "/").catch(() => undefined);
    assert.notEqual(plain?.status, 200);
  } finally {
    server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test(`[${runtime}] TLS: start() rejects when the certificate or key is not set`, async () => {
  const server = new Server("127.0.0.1", 0, true);
  server.set({ ssl_cert_file: "/nonexistent/cert.pem" });
  await assert.rejects(server.start(), /set ssl_cert_file and ssl_key_file/);
  await assert.rejects(server.listening);
});
