/**
 * The HTTP side over real sockets: request bodies and their limit, cookies, redirects and the
 * refusal of header injection.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync, inflateSync } from "node:zlib";
import { setImmediate } from "node:timers";
import { runtime, startServer, within } from "../helpers.ts";
import { RawClient } from "../raw_client.ts";

// --expose-gc lets /memory collect garbage first: discarded upload bytes are not retention.
const server = await startServer("fixtures/http.ts", {
  NODE_OPTIONS: "--expose-gc",
  DENO_V8_FLAGS: "--expose-gc",
});
const MIB = 1024 * 1024;

async function liveMemory(): Promise<number> {
  return Number(await (await fetch(`${server.url}/memory`)).text());
}

/**
 * Sends `head`, then `chunk` until `total` bytes are sent or the server answers, as a client
 * that watches for an early answer does; resolves with the answer's head.
 */
async function upload(head: string, chunk: string, total: number): Promise<string> {
  const client = await RawClient.open(server.port);
  let text = "";
  const answered = new Promise<void>((resolve) => {
    client.socket.on("data", (data: Uint8Array) => {
      text += new TextDecoder().decode(data);
      if (text.includes("\r\n\r\n")) resolve();
    });
    client.socket.on("close", () => resolve());
  });
  client.socket.on("error", () => {}); // Our writes may meet the server's close: expected.
  let done = false;
  void answered.then(() => done = true);
  client.write(head);
  for (let sent = 0; sent < total && !done; sent += chunk.length) {
    if (!client.socket.write(chunk)) {
      await Promise.race([
        new Promise((resolve) => client.socket.once("drain", resolve)),
        answered,
      ]);
    }
    // Let an early answer in between writes, as a client that watches for one does.
    await new Promise((resolve) => setImmediate(resolve));
  }
  await within(answered, 10_000, "an answer");
  client.destroy();
  return text;
}

test(`[${runtime}] HTTP: an urlencoded POST reaches post, getContent() and getMethod()`, async () => {
  const answer = await fetch(`${server.url}/form`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: "name=J%C3%BCrgen&x=1&x=2&empty=",
  });
  assert.deepEqual(await answer.json(), {
    method: "POST",
    post: { name: "Jürgen", x: "2", empty: "" },
    content: "name=J%C3%BCrgen&x=1&x=2&empty=",
    bytes: 31,
    files: {},
  });
  const json = await fetch(`${server.url}/form`, { method: "PUT", body: '{"a":1}' });
  assert.deepEqual(await json.json(), {
    method: "PUT",
    post: {},
    content: '{"a":1}',
    bytes: 7,
    files: {},
  });
});

test(`[${runtime}] HTTP: a body over package_max_length gets 413`, async () => {
  // Declared too large: refused from the headers alone.
  const declared = await upload(
    `POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: ${10 * MIB}\r\n\r\n`,
    "x".repeat(0x10000),
    10 * MIB,
  );
  assert.match(declared, /^HTTP\/1\.1 413 /);
  // Chunked, with no length: refused once 2 MiB have arrived.
  const chunked = await upload(
    "POST /form HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
    `10000\r\n${"y".repeat(0x10000)}\r\n`,
    10 * MIB,
  );
  assert.match(chunked, /^HTTP\/1\.1 413 /);
  assert.equal((await fetch(`${server.url}/form`)).status, 200, "the server still answers");
});

test(`[${runtime}] HTTP: a client that ignores the 413 and sends 128 MB is not buffered`, async () => {
  const before = await liveMemory();
  const client = await RawClient.open(server.port);
  client.socket.on("error", () => {}); // The server may cut it off: expected.
  client.write("POST /form HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  const chunk = `10000\r\n${"z".repeat(0x10000)}\r\n`;
  for (let sent = 0; sent < 128 * MIB && !client.socket.destroyed; sent += 0x10000) {
    if (!client.socket.write(chunk)) {
      await Promise.race([
        new Promise((resolve) => client.socket.once("drain", resolve)),
        client.ended,
      ]);
    }
  }
  // Measured while the connection is still open: holding the upload would show 128 MiB.
  const grown = (await liveMemory()) - before;
  client.destroy();
  assert.ok(grown < 64 * MIB, `the server grew by ${grown} B for a 128 MB refused upload`);
  assert.equal((await fetch(`${server.url}/form`)).status, 200, "the server still answers");
});

test(`[${runtime}] HTTP: cookie() encodes the value, rawcookie() does not, header() replaces`, async () => {
  const answer = await fetch(`${server.url}/cookies`);
  assert.equal(await answer.text(), "set");
  assert.equal(answer.headers.get("x-version"), "2");
  assert.deepEqual(answer.headers.getSetCookie(), [
    "session=a%20b%3Bc; path=/; secure; HttpOnly; SameSite=Lax",
    "theme=dark; path=/app",
  ]);
});

test(`[${runtime}] HTTP: redirect() sets Location and the status`, async () => {
  const answer = await fetch(`${server.url}/redirect`, { redirect: "manual" });
  assert.equal(answer.status, 301);
  assert.equal(answer.headers.get("location"), "/form?from=redirect");
  await answer.body?.cancel();
});

test(`[${runtime}] HTTP: CR or LF in a header, cookie or redirect is refused with TypeError`, async () => {
  const answer = await fetch(`${server.url}/refusals`);
  assert.equal(await answer.text(), "header value,header name,cookie value,redirect");
  assert.equal(answer.headers.get("injected"), null);
});

test(`[${runtime}] HTTP: pipelined requests on one keep-alive connection answer in order`, async () => {
  const client = await RawClient.open(server.port);
  let text = "";
  const both = new Promise<void>((resolve) => {
    client.socket.on("data", (data: Uint8Array) => {
      text += new TextDecoder().decode(data);
      if ((text.match(/HTTP\/1\.1 200/g) ?? []).length === 2 && text.endsWith("}")) resolve();
    });
  });
  const request = (n: number) =>
    `POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nn=${n}`;
  client.write(request(1) + request(2));
  await within(both, 5000, "two answers");
  const contents = [...text.matchAll(/"content":"(n=\d)"/g)].map((match) => match[1]);
  assert.deepEqual(contents, ["n=1", "n=2"]);
  client.destroy();
});

test(`[${runtime}] HTTP: IPv6 hosts work`, async () => {
  const own = await startServer("fixtures/http.ts", { HOST: "::1" });
  try {
    const answer = await fetch(`http://[::1]:${own.port}/form?x=1`);
    assert.equal(((await answer.json()) as { method: string }).method, "GET");
  } finally {
    own.kill();
  }
});

test(`[${runtime}] HTTP: shutdown() lets a request in flight finish and refuses new ones`, async () => {
  const own = await startServer("fixtures/http.ts");
  const inFlight = fetch(`${own.url}/slow?ms=500`);
  await new Promise((resolve) => setTimeout(resolve, 100)); // It has reached its handler.
  await (await fetch(`${own.url}/shutdown`)).text();
  const answer = await inFlight;
  assert.equal(answer.status, 200);
  assert.equal(await answer.text(), "slow done");
  assert.equal(await within(own.exited, 8000, "server exit"), 0);
  assert.match(own.output(), /stopped/);
  await assert.rejects(fetch(`${own.url}/form`), "no longer accepting connections");
});

test(`[${runtime}] HTTP: write() streams the body in order, chunked, after the head`, async () => {
  const client = await RawClient.open(server.port);
  let text = "";
  const done = new Promise<void>((resolve) => {
    client.socket.on("data", (data: Uint8Array) => {
      text += new TextDecoder().decode(data);
      if (text.endsWith("0\r\n\r\n")) resolve();
    });
  });
  client.write("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  await within(done, 5000, "the whole stream");
  client.destroy();
  const headEnd = text.indexOf("\r\n\r\n");
  const head = text.slice(0, headEnd);
  const body = text.slice(headEnd + 4);
  assert.match(head, /^HTTP\/1\.1 200/);
  assert.match(head, /transfer-encoding: chunked/i);
  assert.match(head, /x-streamed: yes/i);
  // De-chunk: sizes in hex, each followed by its bytes.
  const pieces = [...body.matchAll(/([0-9a-f]+)\r\n([^\r]*)\r\n/gi)]
    .filter((match) => match[1] !== "0").map((match) => match[2]);
  assert.equal(pieces.join(""), "abcd");
});

test(`[${runtime}] HTTP: write() waits for a slow client and turns false once it has gone`, async () => {
  const client = await RawClient.open(server.port);
  client.socket.on("error", () => {});
  client.write("GET /firehose HTTP/1.1\r\nHost: x\r\n\r\n");
  await new Promise((resolve) => client.socket.once("data", resolve));
  client.socket.pause(); // A client that stops reading: write() must wait, not buffer.
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(await (await fetch(`${server.url}/firehose-result`)).text(), "writing");
  client.destroy();
  const deadline = Date.now() + 5000;
  let result = "";
  while (Date.now() < deadline) {
    result = await (await fetch(`${server.url}/firehose-result`)).text();
    if (result !== "writing") break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.match(result, /^write\(\) false after \d+$/);
});

test(`[${runtime}] HTTP: write() streams with backpressure to a request that asked to upgrade too`, async () => {
  // A route that does not upgrade still answers a request with upgrade headers: Node leaves
  // that socket to the adapter, which must stream as it does for any other request.
  const client = await RawClient.open(server.port);
  client.write(
    "GET /firehose HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
  );
  const first = await within(
    new Promise<Uint8Array>((resolve) => client.socket.once("data", resolve)),
    5000,
    `[${runtime}] the head and the first chunks`,
  );
  assert.match(new TextDecoder().decode(first.subarray(0, 64)), /^HTTP\/1\.1 200 /);
  client.socket.pause(); // A client that stops reading: write() must wait, not buffer.
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(await (await fetch(`${server.url}/firehose-result`)).text(), "writing");
  client.destroy();
});

test(`[${runtime}] HTTP: sendfile() streams a range of a 72 MiB file without loading it`, async () => {
  const dir = mkdtempSync(join(tmpdir(), "coro-ws-sendfile-"));
  const path = join(dir, "big.bin");
  try {
    // 72 MiB where every 4-byte word is its own index: any range can be checked.
    const block = new Uint8Array(MIB);
    const view = new DataView(block.buffer);
    const file = openSync(path, "w");
    for (let m = 0; m < 72; m++) {
      for (let i = 0; i < MIB / 4; i++) view.setUint32(i * 4, m * (MIB / 4) + i);
      writeSync(file, block);
    }
    closeSync(file);
    const query = (offset: number, length: number) =>
      `${server.url}/file?path=${encodeURIComponent(path)}&offset=${offset}&length=${length}`;

    const range = await fetch(query(70 * MIB, 4096));
    assert.equal(range.headers.get("content-type"), "application/octet-stream");
    const bytes = new DataView(await range.arrayBuffer());
    assert.equal(bytes.byteLength, 4096);
    assert.equal(bytes.getUint32(0), (70 * MIB) / 4);
    assert.equal(bytes.getUint32(4092), (70 * MIB) / 4 + 1023);

    const before = await liveMemory();
    const whole = await fetch(query(0, 0));
    const reader = whole.body!.getReader();
    let received = (await reader.read()).value!.byteLength;
    // The client has read one piece: the server must hold back the rest, not load it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const grown = (await liveMemory()) - before;
    assert.ok(grown < 32 * MIB, `the server grew by ${grown} B while sending 72 MiB`);
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      received += read.value.byteLength;
    }
    assert.equal(received, 72 * MIB);

    const missing = await fetch(query(0, 0).replace("big.bin", "missing.bin"));
    assert.equal(missing.status, 404);
    assert.equal(await missing.text(), "errCode 2");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(`[${runtime}] HTTP: a multipart form fills post and files; a malformed one gets 400`, async () => {
  const form = new FormData();
  form.append("title", "Grüße");
  const bytes = new Uint8Array([0, 13, 10, 45, 45, 255]); // NUL, CRLF, "--", 0xff
  form.append("upload", new Blob([bytes], { type: "application/x-test" }), "data.bin");
  const answer = await fetch(`${server.url}/form`, { method: "POST", body: form });
  const received = await answer.json() as {
    post: Record<string, string>;
    files: Record<string, unknown>;
  };
  assert.deepEqual(received.post, { title: "Grüße" });
  assert.deepEqual(received.files, {
    upload: {
      name: "data.bin",
      type: "application/x-test",
      size: 6,
      error: 0,
      content: [...bytes],
    },
  });

  const malformed = await fetch(`${server.url}/form`, {
    method: "POST",
    headers: { "Content-Type": "multipart/form-data" },
    body: "no boundary here",
  });
  assert.equal(malformed.status, 400);
  assert.match(await malformed.text(), /Malformed request/);
});

test(`[${runtime}] HTTP: http_compression gzips or deflates what the client accepts`, async () => {
  const text = "compress me ".repeat(100);
  const ask = async (path: string, accept: string) => {
    const client = await RawClient.open(server.port);
    const head = `GET ${path} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: ${accept}\r\n` +
      "Connection: close\r\n\r\n";
    const chunks: Uint8Array[] = [];
    const closed = new Promise((resolve) => client.socket.on("close", resolve));
    client.socket.on("data", (data: Uint8Array) => chunks.push(data));
    client.write(head);
    await within(closed, 5000, "the answer");
    const raw = Buffer.concat(chunks);
    const headEnd = raw.indexOf("\r\n\r\n");
    const headers = raw.subarray(0, headEnd).toString("latin1").toLowerCase();
    return { headers, body: raw.subarray(headEnd + 4) };
  };
  const gzipped = await ask("/text", "br, gzip;q=0.9");
  assert.match(gzipped.headers, /content-encoding: gzip/);
  assert.match(gzipped.headers, /vary: accept-encoding/);
  assert.equal(gunzipSync(gzipped.body).toString(), text);

  const deflated = await ask("/text", "deflate");
  assert.match(deflated.headers, /content-encoding: deflate/);
  assert.equal(inflateSync(deflated.body).toString(), text);

  for (const [path, accept] of [["/text", "identity"], ["/text?short", "gzip"]]) {
    const plain = await ask(path, accept);
    assert.doesNotMatch(plain.headers, /content-encoding/, `${path} ${accept}`);
  }
});

test(`[${runtime}] HTTP: toWeb() gives the web-standard Request`, async () => {
  const answer = await fetch(`${server.url}/web?q=1`, {
    method: "POST",
    headers: { "X-A": "b" },
    body: "payload",
  });
  assert.equal(await answer.text(), "POST /web?q=1 b payload");
});
