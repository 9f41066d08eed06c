/**
 * TLS: HTTPS and a WebSocket over it (WSS), with a throw-away self-signed certificate made by
 * openssl at run time (no private key is committed).
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Client, ERROR, FLAG, Frame, OPCODE, Server } from "../../mod.ts";
import { runtime, startServer } from "../helpers.ts";
import { RawClient } from "../raw_client.ts";

/** A certificate for 127.0.0.1, or undefined (with a loud warning) without openssl. */
function makeCertificate(): { dir: string; cert: string; key: string } | undefined {
  const dir = mkdtempSync(join(tmpdir(), "coro-ws-tls-"));
  const made = spawnSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
    "-keyout",
    join(dir, "key.pem"),
    "-out",
    join(dir, "cert.pem"),
  ], { encoding: "utf8" });
  if (made.status !== 0) {
    console.error(
      `\n!!! TLS tests SKIPPED: openssl could not make a certificate ` +
        `(${made.error?.message ?? made.stderr}). Install openssl to run them.\n`,
    );
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  return { dir, cert: join(dir, "cert.pem"), key: join(dir, "key.pem") };
}

const certificate = makeCertificate();

// Before the tests below, the last of which removes the certificate when it ends.
test(`[${runtime}] TLS: the Client refuses a self-signed certificate by default`, {
  skip: certificate ? false : "openssl is missing: no certificate to serve",
}, async () => {
  const { cert, key } = certificate!;
  const server = await startServer("fixtures/tls.ts", { SSL_CERT: cert, SSL_KEY: key });
  try {
    const client = new Client("127.0.0.1", server.port, true);
    assert.equal(await client.upgrade("/echo"), false);
    assert.equal(client.errCode, ERROR.WEBSOCKET_HANDSHAKE_FAILED, client.errMsg);
  } finally {
    server.kill();
  }
});

test(`[${runtime}] TLS: the Client accepts it with ssl_verify_peer: false`, {
  skip: !certificate
    ? "openssl is missing: no certificate to serve"
    : runtime === "deno"
    ? "Deno's WebSocket takes no TLS options (only the --unsafely-ignore-certificate-errors flag)"
    : false,
}, async () => {
  const { cert, key } = certificate!;
  const server = await startServer("fixtures/tls.ts", { SSL_CERT: cert, SSL_KEY: key });
  try {
    const client = new Client("127.0.0.1", server.port, true);
    client.set({ ssl_verify_peer: false });
    assert.equal(await client.upgrade("/echo"), true, client.errMsg);
    await client.push("over tls");
    assert.equal((await client.recv(5) as { data: unknown }).data, "over tls");
    await client.disconnect();
  } finally {
    server.kill();
  }
});

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
