/** Unit tests of the multipart/form-data parser. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { MalformedBodyError, parseMultipart } from "../src/http/multipart.ts";

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
