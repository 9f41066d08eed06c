/**
 * A `multipart/form-data` parser (RFC 7578) for request bodies already in memory.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createRecord } from "../core/record.ts";

/**
 * One uploaded file, with Swoole's keys. The content stays in memory: the whole body is
 * bounded by `package_max_length`, so there is no temporary file to clean up.
 *
 * @example
 * ```ts
 * import { Server, type UploadedFile } from "../../mod.ts";
 * new Server("127.0.0.1", 0).handle("/upload", (request, response) => {
 *   const file: UploadedFile | undefined = request.files.avatar;
 *   response.end(file ? `${file.name}: ${file.size} bytes of ${file.type}` : "no file");
 * });
 * ```
 */
export interface UploadedFile {
  /** The file name the client gave. */
  name: string;
  /** Its Content-Type, as the client gave it. */
  type: string;
  /** Its size in bytes. */
  size: number;
  /** 0: uploaded (PHP's UPLOAD_ERR_OK). */
  error: number;
  /** The file's bytes (the body is bounded by `package_max_length`, so it stays in memory). */
  content: Uint8Array;
}

/**
 * A body that claims to be multipart but is not well formed: the server answers it 400 before
 * any handler runs, so it never reaches user code.
 */
export class MalformedBodyError extends Error {
  /** "MalformedBodyError" */
  override name = "MalformedBodyError";
}

const decoder = new TextDecoder();
const CRLF = Buffer.from("\r\n");

/**
 * The fields and files of a multipart body.
 *
 * @throws {MalformedBodyError} without a boundary, or when the parts are not delimited by it
 */
export function parseMultipart(
  body: Uint8Array,
  contentType: string,
): { fields: Record<string, string>; files: Record<string, UploadedFile> } {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!boundary) throw new MalformedBodyError("multipart body without a boundary");
  const dashBoundary = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  const delimiter = Buffer.concat([CRLF, dashBoundary]);
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const fields = createRecord<string>();
  const files = createRecord<UploadedFile>();
  // A delimiter is CRLF and "--boundary"; only the first may open the body without its CRLF
  // (RFC 2046 5.1.1). After a preamble, the CRLF is the preamble's end.
  let at = 0;
  const opens = bytes.subarray(0, dashBoundary.length).equals(dashBoundary);
  if (!opens || !endsDelimiter(bytes, dashBoundary.length)) {
    at = nextDelimiter(bytes, delimiter, 0);
    if (at < 0) throw new MalformedBodyError("multipart body without its boundary");
    at += 2;
  }
  for (;;) {
    at += dashBoundary.length;
    if (bytes[at] === 0x2d && bytes[at + 1] === 0x2d) return { fields, files }; // "--": the end
    const headEnd = bytes.indexOf("\r\n\r\n", at);
    const next = nextDelimiter(bytes, delimiter, at);
    if (headEnd < 0 || next < 0 || headEnd > next) {
      throw new MalformedBodyError("multipart part not closed by its boundary");
    }
    const head = decoder.decode(bytes.subarray(at, headEnd));
    const content = bytes.subarray(headEnd + 4, next); // The CRLF is the delimiter's.
    const disposition = /content-disposition:\s*form-data([^\r\n]*)/i.exec(head)?.[1] ?? "";
    const name = /;\s*name="([^"]*)"/i.exec(disposition)?.[1];
    const filename = /;\s*filename="([^"]*)"/i.exec(disposition)?.[1];
    if (name === undefined) throw new MalformedBodyError("multipart part without a name");
    if (filename === undefined) {
      fields[name] = decoder.decode(content);
    } else {
      files[name] = {
        name: filename,
        type: /content-type:\s*([^\r\n]+)/i.exec(head)?.[1].trim() ?? "application/octet-stream",
        size: content.byteLength,
        error: 0,
        // A view of the body, which the request holds anyway: no copy.
        content: new Uint8Array(content.buffer, content.byteOffset, content.byteLength),
      };
    }
    at = next + 2;
  }
}

/**
 * Where the next `delimiter` (CRLF and `--boundary`) from `from` on starts, or -1. Only one
 * that ends its line counts: `--boundary` mid-line, or with more than spaces after it on its
 * line, is content.
 */
function nextDelimiter(bytes: Buffer, delimiter: Buffer, from: number): number {
  for (let at = bytes.indexOf(delimiter, from); at >= 0; at = bytes.indexOf(delimiter, at + 1)) {
    if (endsDelimiter(bytes, at + delimiter.length)) return at;
  }
  return -1;
}

/**
 * Whether the bytes at `end`, just after a `--boundary`, close it as a delimiter: `--` (the
 * last one), or transport padding (spaces, tabs) and CRLF (RFC 2046 5.1.1).
 */
function endsDelimiter(bytes: Buffer, end: number): boolean {
  if (bytes[end] === 0x2d && bytes[end + 1] === 0x2d) return true;
  while (bytes[end] === 0x20 || bytes[end] === 0x09) end++;
  return bytes[end] === 0x0d && bytes[end + 1] === 0x0a;
}
