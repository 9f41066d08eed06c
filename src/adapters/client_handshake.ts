/**
 * The client engine's opening handshake (RFC 6455 §4.1, RFC 7692 §5): the upgrade request, the
 * answer's head read up to a bound, a refused answer's body kept up to a bound, and the checks of
 * a 101 (Upgrade, Connection, Sec-WebSocket-Accept, the subprotocol, permessage-deflate). What is
 * wrong comes back as a message; the engine (client_engine.ts) decides the error code.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { concatBytes } from "../core/frame.ts";
import type { ClientConnectOptions } from "../client/contract.ts";

/** Largest answer head read before the handshake fails (Node's `maxHeaderSize`). */
export const HEAD_LIMIT = 16 * 1024;
/** Largest refused answer's body kept; the rest is not read. */
export const BODY_LIMIT = 64 * 1024;
/** How long a refused answer's body may take once its head has come. */
export const BODY_WAIT_MS = 1000;

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");
const EMPTY = new Uint8Array(0);

/** A fresh Sec-WebSocket-Key. */
export function handshakeKey(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
}

/** The upgrade request for `url`, with the user's headers and the engine's own over them. */
export function upgradeRequest(options: ClientConnectOptions, url: URL, key: string): Uint8Array {
  const fields: Record<string, string> = { host: url.host };
  const names: Record<string, string> = { host: "Host" };
  for (const [name, value] of Object.entries(options.headers)) {
    fields[name.toLowerCase()] = value;
    names[name.toLowerCase()] = name;
  }
  const own: [string, string][] = [
    ["Upgrade", "websocket"],
    ["Connection", "Upgrade"],
    ["Sec-WebSocket-Key", key],
    ["Sec-WebSocket-Version", "13"],
  ];
  // Offers joined with ", ", as browsers send them: Deno's servers split on ", " alone.
  if (options.protocols.length > 0) {
    own.push(["Sec-WebSocket-Protocol", options.protocols.join(", ")]);
  }
  if (options.compression) {
    own.push([
      "Sec-WebSocket-Extensions",
      "permessage-deflate; client_no_context_takeover; server_no_context_takeover; " +
      "client_max_window_bits",
    ]);
  }
  for (const [name, value] of own) {
    fields[name.toLowerCase()] = value;
    names[name.toLowerCase()] = name;
  }
  let head = `GET ${url.pathname}${url.search} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(fields)) head += `${names[name]}: ${value}\r\n`;
  return encoder.encode(head + "\r\n");
}

/** An answer's head: its status, its headers (names in lower case) and the bytes after it. */
export interface AnswerHead {
  status: number;
  headers: Record<string, string>;
  rest: Uint8Array;
}

/** Reads the answer's head from the reads that carry it, up to {@link HEAD_LIMIT} bytes. */
export class HeadReader {
  #head: Uint8Array = EMPTY;

  /** The head once it is whole, undefined until then, or what is wrong with it. */
  read(chunk: Uint8Array): AnswerHead | undefined | { error: string } {
    const start = Math.max(0, this.#head.length - 3);
    const head = this.#head.length > 0 ? concatBytes([this.#head, chunk]) : chunk;
    const end = findHeadEnd(head, start);
    if (end < 0 ? head.length > HEAD_LIMIT : end > HEAD_LIMIT) {
      return { error: `the server's answer has a head over ${HEAD_LIMIT} bytes` };
    }
    if (end < 0) {
      this.#head = head === chunk ? new Uint8Array(chunk) : head;
      return undefined;
    }
    this.#head = EMPTY;
    const lines = latin1.decode(head.subarray(0, end)).split("\r\n");
    const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0]);
    if (!status) return { error: "the server's answer is not HTTP/1.1" };
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    return { status: Number(status[1]), headers, rest: head.subarray(end + 4) };
  }
}

/** The offset of the blank line that ends a head, from `start`, or -1. */
function findHeadEnd(bytes: Uint8Array, start: number): number {
  for (let i = start; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

/** permessage-deflate as the server accepted it. */
export interface Deflate {
  clientWindowBits: number;
}

/**
 * What is wrong with a 101 answer (`error`), or the permessage-deflate it agreed to
 * (`deflate`, undefined for none).
 */
export function checkSwitch(
  headers: Record<string, string>,
  key: string,
  options: ClientConnectOptions,
): { error: string } | { deflate: Deflate | undefined } {
  if (headers.upgrade?.toLowerCase() !== "websocket") return { error: "Invalid Upgrade header" };
  if (!/(^|,)\s*upgrade\s*(,|$)/i.test(headers.connection ?? "")) {
    return { error: "Invalid Connection header" };
  }
  const expected = createHash("sha1").update(key + GUID).digest("base64");
  if (headers["sec-websocket-accept"] !== expected) {
    return { error: "Invalid Sec-WebSocket-Accept header" };
  }
  const protocol = headers["sec-websocket-protocol"];
  const offered = options.protocols;
  if (protocol !== undefined) {
    if (offered.length === 0) return { error: "Server sent a subprotocol but none was requested" };
    if (!offered.includes(protocol)) return { error: "Server sent an invalid subprotocol" };
  } else if (offered.length > 0) return { error: "Server sent no subprotocol" };
  const extensions = headers["sec-websocket-extensions"];
  if (extensions === undefined) return { deflate: undefined };
  if (!options.compression) {
    return {
      error: "Server sent a Sec-WebSocket-Extensions header but no extension was requested",
    };
  }
  return acceptDeflate(extensions);
}

function acceptDeflate(answer: string): { error: string } | { deflate: Deflate } {
  const [name, ...parameters] = answer.split(";").map((part) => part.trim());
  if (name !== "permessage-deflate" || answer.includes(",")) {
    return { error: `Server accepted an extension that was not offered: ${answer}` };
  }
  let clientWindowBits = 15;
  let serverNoContext = false;
  for (const parameter of parameters) {
    const [key, value] = parameter.split("=").map((part) => part.trim().replace(/^"|"$/g, ""));
    if (key === "server_no_context_takeover" && value === undefined) serverNoContext = true;
    else if (key === "client_no_context_takeover" && value === undefined) continue;
    else if (key === "client_max_window_bits" && /^(9|1[0-5]|8)$/.test(value ?? "")) {
      clientWindowBits = Math.max(9, Number(value));
    } else if (key === "server_max_window_bits" && /^(9|1[0-5]|8)$/.test(value ?? "")) {
      continue; // Inflating with the largest window reads any smaller one.
    } else return { error: `Invalid permessage-deflate parameter: ${parameter}` };
  }
  // Each message is inflated alone: a server that keeps its context did not take the offer.
  if (!serverNoContext) return { error: "Server did not accept server_no_context_takeover" };
  return { deflate: { clientWindowBits } };
}

/**
 * A refused answer's body, kept up to {@link BODY_LIMIT} bytes: by Content-Length, chunked, or
 * until the stream ends.
 */
export class RefusedBody {
  #parts: Uint8Array[] = [];
  #length = 0;
  #remaining: number;
  #chunked: boolean;
  #chunkLeft = 0;
  #line = "";
  #state: "size" | "data" | "crlf" | "done" = "size";

  constructor(headers: Record<string, string>) {
    this.#chunked = /chunked/i.test(headers["transfer-encoding"] ?? "");
    const length = Number(headers["content-length"]);
    this.#remaining = this.#chunked ? Infinity : Number.isFinite(length) ? length : Infinity;
  }

  /** What is kept of the body so far. */
  get bytes(): Uint8Array {
    return this.#parts.length === 1 ? this.#parts[0] : concatBytes(this.#parts);
  }

  /** Reads a chunk of the body; true once it is complete or the bound is reached. */
  read(chunk: Uint8Array): boolean {
    const done = this.#read(chunk);
    return done || this.#length >= BODY_LIMIT;
  }

  #take(bytes: Uint8Array): void {
    const room = BODY_LIMIT - this.#length;
    if (room <= 0) return;
    const kept = new Uint8Array(bytes.subarray(0, room));
    this.#parts.push(kept);
    this.#length += kept.length;
  }

  #read(chunk: Uint8Array): boolean {
    if (!this.#chunked) {
      const bytes = chunk.subarray(0, Math.min(chunk.length, this.#remaining));
      this.#remaining -= bytes.length;
      if (bytes.length > 0) this.#take(bytes);
      return this.#remaining <= 0;
    }
    let offset = 0;
    while (offset < chunk.length && this.#state !== "done") {
      if (this.#state === "data") {
        const bytes = chunk.subarray(offset, offset + this.#chunkLeft);
        this.#take(bytes);
        this.#chunkLeft -= bytes.length;
        offset += bytes.length;
        if (this.#chunkLeft === 0) this.#state = "crlf";
        continue;
      }
      const byte = chunk[offset++];
      if (byte !== 0x0a) {
        if (this.#line.length < 1024) this.#line += String.fromCharCode(byte);
        continue;
      }
      const line = this.#line.trim();
      this.#line = "";
      if (this.#state === "crlf") {
        this.#state = "size";
        continue;
      }
      const size = parseInt(line, 16);
      if (!Number.isFinite(size) || size === 0) this.#state = "done";
      else {
        this.#chunkLeft = size;
        this.#state = "data";
      }
    }
    return this.#state === "done";
  }
}
