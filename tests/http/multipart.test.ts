/**
 * The multipart/form-data parser: unit tests, then one upload over a real socket to a server
 * on the current runtime.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { test } from "node:test";
import { MalformedBodyError, parseMultipart } from "../../src/http/multipart.ts";
import { runtime, startServer } from "../helpers.ts";

const encoder = new TextEncoder();
const TYPE = 'multipart/form-data; boundary="b0undary"';

function body(text: string): Uint8Array {
  return encoder.encode(text.replaceAll("\n", "\r\n"));
}

test("parseMultipart() reads fields and files, keeping a file's bytes exact", () => {
  const { fields, files } = parseMultipart(
    body(`--b0undary
Content-Disposition: form-data; name="a"

one
--b0undary
Content-Disposition: form-data; name="f"; filename="x.txt"
Content-Type: text/plain

line 1
--b0undar
line 2
--b0undary--
`),
    TYPE,
  );
  // Maps that inherit nothing: the field names are the peer's.
  for (const record of [fields, files]) {
    assert.equal("constructor" in record, false);
    assert.equal("toString" in record, false);
  }
  assert.deepEqual({ ...fields }, { a: "one" });
  assert.equal(files.f.name, "x.txt");
  assert.equal(files.f.type, "text/plain");
  // A line that only looks like the delimiter stays in the content.
  assert.equal(new TextDecoder().decode(files.f.content), "line 1\r\n--b0undar\r\nline 2");
  assert.equal(files.f.size, 25);
});

test("parseMultipart() refuses a body without a boundary, a part left open or unnamed", () => {
  assert.throws(() => parseMultipart(body("x"), "multipart/form-data"), MalformedBodyError);
  assert.throws(() => parseMultipart(body("no delimiter"), TYPE), MalformedBodyError);
  const open = `--b0undary\nContent-Disposition: form-data; name="a"\n\ncut off`;
  assert.throws(() => parseMultipart(body(open), TYPE), MalformedBodyError);
  const unnamed = `--b0undary\nContent-Disposition: form-data\n\nv\n--b0undary--\n`;
  assert.throws(() => parseMultipart(body(unnamed), TYPE), MalformedBodyError);
});

test("parseMultipart() keeps a --boundary that does not start a line in the content", () => {
  // RFC 2046 5.1.1: a delimiter is CRLF, "--" and the boundary; only the first may open the body.
  const { fields, files } = parseMultipart(
    body(`--b0undary
Content-Disposition: form-data; name="f"; filename="x.txt"

see --b0undary here
and x--b0undary--
--b0undary
Content-Disposition: form-data; name="a"

mid --b0undary-- end
--b0undary--
`),
    TYPE,
  );
  assert.equal(
    new TextDecoder().decode(files.f.content),
    "see --b0undary here\r\nand x--b0undary--",
  );
  assert.deepEqual({ ...fields }, { a: "mid --b0undary-- end" });

  // The same in a preamble; and a line that goes on after the boundary is no delimiter either.
  const after = parseMultipart(
    body(`a preamble --b0undary
--b0undary
Content-Disposition: form-data; name="a"

--b0undaryX
--b0undary 	
Content-Disposition: form-data; name="b"

two
--b0undary--
`),
    TYPE,
  );
  assert.deepEqual({ ...after.fields }, { a: "--b0undaryX", b: "two" });
});

test(`[${runtime}] multipart: a file with --BOUNDARY mid-line arrives exact over a socket`, async () => {
  const server = await startServer("fixtures/multipart.ts");
  try {
    const content = Buffer.concat([
      Buffer.from("x --BOUNDARY y\r\nz--BOUNDARY--\r\n\t--BOUNDARY"),
      Buffer.from([0, 0xff, 0x0d, 0x0a]),
    ]);
    const upload = Buffer.concat([
      Buffer.from(
        '--BOUNDARY\r\nContent-Disposition: form-data; name="note"\r\n\r\n' +
          "a --BOUNDARY b\r\n" +
          '--BOUNDARY\r\nContent-Disposition: form-data; name="f"; filename="f.bin"\r\n' +
          "Content-Type: application/octet-stream\r\n\r\n",
      ),
      content,
      Buffer.from("\r\n--BOUNDARY--\r\n"),
    ]);
    const answer = await fetch(`${server.url}/upload`, {
      method: "POST",
      headers: { "Content-Type": "multipart/form-data; boundary=BOUNDARY" },
      body: upload,
    });
    const text = await answer.text();
    assert.equal(answer.status, 200, text);
    assert.deepEqual(JSON.parse(text), {
      post: { note: "a --BOUNDARY b" },
      files: { f: { name: "f.bin", size: content.length, content: content.toString("base64") } },
    });
  } finally {
    server.kill();
  }
});
