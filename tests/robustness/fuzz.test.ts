/**
 * Network fuzzing over loopback: random and mutated HTTP requests, WebSocket handshakes and
 * frames from a seeded generator, against one fixture server for a fixed time. Afterwards the
 * server must be alive, hold no handler or connection, stay within a memory bound, and still
 * answer a plain request and a WebSocket echo.
 *
 *   FUZZ_SEED=1234 FUZZ_SECONDS=8 node --test tests/robustness/fuzz.test.ts   # replay a failure
 *
 * Every assertion message carries the seed. Timing (which case meets which other one on the
 * server) is not replayed exactly, but the bytes sent are.
 */

import assert from "node:assert/strict";
import { connect as tcpConnect, type Socket } from "node:net";
import process from "node:process";
import { test } from "node:test";
import { concatBytes } from "../../src/core/frame.ts";
import { message, open, runtime, startServer, within } from "../helpers.ts";

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32)) >>> 0;
/** Per runtime: `npm test` runs three, and ten seeds at a time are run by hand before a release. */
const SECONDS = Number(process.env.FUZZ_SECONDS ?? 4);
/** Sockets open at once: enough to overlap handshakes, bodies and closes on the server. */
const CONCURRENCY = 16;
/** No case keeps its socket longer than this, whatever the server does. */
const CASE_MS = 3000;
/**
 * Measured growth over 8 s is 9 to 21 MiB (Bun least, Node and Deno most); four times that
 * leaves room for GC timing and a loaded machine, and still catches a per-connection leak.
 */
const RSS_BOUND = 100 * 1024 * 1024;
const MIB = 1024 * 1024;

/** mulberry32: small, fast and seedable, so a printed seed replays the same bytes. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Generator helpers over one PRNG. */
class Rng {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(below: number): number {
    return Math.floor(this.next() * below);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)];
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

const encoder = new TextEncoder();
const latin1 = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
const utf8 = (text: string) => encoder.encode(text);

// ---------------------------------------------------------------------------------------------
// HTTP shapes

/** Query values that handlers copy into headers, cookies, statuses and redirects. */
const HOSTILE_VALUES = [
  "plain",
  "%0d%0aX-Injected:%201", // CR LF: header injection
  "%0aSet-Cookie:%20injected=1",
  "%0dX-Injected:%201", // a bare CR, which some clients also end a line at
  "%00",
  "%7f",
  "%09tab",
  "%e2%82%ac", // € : beyond Latin-1
  "%f0%9f%98%80", // an astral character
  "%ff%fe", // invalid UTF-8: decodes to U+FFFD
  "%c3%a9", // é : Latin-1, allowed
  "%zz",
  "%",
  "//evil.example/",
  "javascript:alert(1)",
  "a;b,c",
  "x".repeat(9000),
  "\xc3\xa9\xe2\x82\xac", // "é€" as raw UTF-8 bytes in the target, not percent-encoded
];
const STATUSES = ["200", "99", "100", "101", "204", "304", "404", "599", "600", "-1", "1e3", "x"];

const PATHS = [
  "/",
  "/reflect",
  "/stream",
  "/form",
  "/files/hello.txt",
  "/files/./hello.txt",
  "/files/../../etc/hostname",
  "/files/../../../../../../etc/passwd",
  "/../../etc/hostname",
  "/files/%2e%2e/%2e%2e/etc/hostname",
  "/files/.%2E/.%2e/etc/passwd",
  "/files/..%2f..%2fetc%2fhostname",
  "/files/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
  "/files/..\\..\\etc\\hostname",
  "/files//etc/hostname",
  "/files/hello.txt%00.png",
  "/files/",
  "/files/..",
  "/FILES/hello.txt",
  "/files/" + "a/".repeat(2000),
  "http://127.0.0.1/files/../../etc/hostname",
  "*",
  "",
  "//",
  "/stats?",
  "/nope",
];

const HOSTS = [
  "127.0.0.1",
  "x/stats?",
  "a b",
  "",
  "[::1",
  "host:99999",
  ":",
  "\xe9vil",
  "x".repeat(10_000),
  "localhost, evil",
];

/** Extra header lines, well-formed or not. */
function extraHeaders(rng: Rng): string[] {
  const pool: (() => string)[] = [
    () => `X-A: ${rng.pick(HOSTILE_VALUES)}`,
    () => "Bad Header: x",
    () => "NoColon",
    () => ": empty name",
    () => `X-Long: ${"a".repeat(rng.pick([100, 8000, 70_000, 200_000]))}`,
    () => Array.from({ length: rng.pick([50, 500]) }, (_, i) => `X-${i}: ${i}`).join("\r\n"),
    () => " folded continuation",
    () => "X-Nul: a\x00b",
    () => "X-High: \xff\xfe",
    () => "Expect: 100-continue",
    () => "Accept-Encoding: gzip, deflate",
    () => "Cookie: a=%zz; __proto__=1; constructor=2; b",
    () => "Connection: keep-alive, Upgrade",
    () => "Upgrade: websocket, x",
    () => "Origin: http://evil.example",
    () => `Host: ${rng.pick(HOSTS)}`, // a second Host
  ];
  return Array.from({ length: rng.int(4) }, () => rng.pick(pool)());
}

function multipartBody(rng: Rng, boundary: string): string {
  const names = ["__proto__", "constructor", "prototype", "toString", "a", "__proto__[polluted]"];
  const parts = Array.from({ length: 1 + rng.int(4) }, () => {
    const name = rng.pick(names);
    const file = rng.chance(0.5) ? `; filename="${rng.pick(["x.txt", "../../x", "", "é"])}"` : "";
    return `--${boundary}\r\nContent-Disposition: form-data; name="${name}"${file}\r\n\r\nv`;
  });
  const end = rng.pick([`--${boundary}--\r\n`, `--${boundary}`, "", `--wrong--\r\n`]);
  return `${parts.join("\r\n")}\r\n${end}`;
}

/** A body and the framing headers that claim it, truthfully or not. */
function body(rng: Rng): { headers: string[]; bytes: Uint8Array; truthful: boolean } {
  const kind = rng.int(9);
  const boundary = "b0undary";
  switch (kind) {
    case 0:
      return { headers: [], bytes: new Uint8Array(0), truthful: true };
    case 1: { // urlencoded, prototype keys
      const text = "__proto__[polluted]=1&constructor.prototype.polluted=1&a=%zz&__proto__=x";
      return {
        headers: [
          "Content-Type: application/x-www-form-urlencoded",
          `Content-Length: ${text.length}`,
        ],
        bytes: utf8(text),
        truthful: true,
      };
    }
    case 2: { // multipart
      const text = multipartBody(rng, boundary);
      return {
        headers: [
          `Content-Type: ${
            rng.pick([`multipart/form-data; boundary=${boundary}`, "multipart/form-data"])
          }`,
          `Content-Length: ${text.length}`,
        ],
        bytes: utf8(text),
        truthful: true,
      };
    }
    case 3: { // Content-Length says more than is sent
      const bytes = rng.bytes(rng.int(100));
      return {
        headers: [`Content-Length: ${bytes.length + 1 + rng.int(100_000)}`],
        bytes,
        truthful: false,
      };
    }
    case 4: { // Content-Length says less: the rest reads as a next request
      return {
        headers: ["Content-Length: 3"],
        bytes: utf8("abcGARBAGE / HTTP/1.1\r\n\r\n"),
        truthful: false,
      };
    }
    case 5: // malformed Content-Length
      return {
        headers: [
          rng.pick([
            "Content-Length: -1",
            "Content-Length: 5, 6",
            "Content-Length: 1e3",
            "Content-Length: 5\r\nContent-Length: 6",
            "Content-Length: 5\r\nContent-Length: 5", // agreeing: one length, or Node's 400
            "Content-Length: 99999999999999999999",
          ]),
        ],
        bytes: utf8("hello"),
        truthful: false,
      };
    case 6: { // chunked, valid
      const text = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
      return { headers: ["Transfer-Encoding: chunked"], bytes: utf8(text), truthful: true };
    }
    case 7: // chunked, broken
      return {
        headers: [
          rng.pick([
            "Transfer-Encoding: chunked",
            "Transfer-Encoding: gzip, chunked",
            "Transfer-Encoding: chunked\r\nContent-Length: 4",
          ]),
        ],
        bytes: utf8(rng.pick([
          "zz\r\nhello\r\n0\r\n\r\n",
          "5\r\nhelloXX0\r\n\r\n",
          "ffffffffffffffff\r\nabc",
          "-1\r\nabc\r\n0\r\n\r\n",
          '5;ext="x\r\nhello\r\n0\r\n\r\n',
          "5\r\nhello\r\n", // never terminated
          "5\nhello\n0\n\n", // bare LF
          "5;\x01\r\nhello\r\n0\r\n\r\n", // a control character in an extension
          "fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n", // a size that overflows
          "0\r\nBad Trailer\r\n\r\n",
          "10000\r\n" + "a".repeat(0x10000) + "\r\n10000\r\n" + "a".repeat(0x10000) +
          "\r\n0\r\n\r\n",
        ])),
        truthful: false,
      };
    default: { // over package_max_length, declared
      const bytes = new Uint8Array(64 * 1024 + 1 + rng.int(100_000));
      return { headers: [`Content-Length: ${bytes.length}`], bytes, truthful: true };
    }
  }
}

/** A whole request: random method, target, Host, extra headers and body. */
function httpRequest(rng: Rng): { bytes: Uint8Array; wellFormed: boolean } {
  const method = rng.pick([
    "GET",
    "GET",
    "POST",
    "PUT",
    "HEAD",
    "OPTIONS",
    "DELETE",
    "G\x00T",
    "É",
  ]);
  let target = rng.pick(PATHS);
  if (rng.chance(0.6)) {
    const keys = ["q", "s", "c", "to", "q"];
    const pairs = Array.from({ length: 1 + rng.int(3) }, () => {
      const key = rng.pick(keys);
      return `${key}=${key === "s" ? rng.pick(STATUSES) : rng.pick(HOSTILE_VALUES)}`;
    });
    target += (target.includes("?") ? "&" : "?") + pairs.join("&");
  }
  const host = rng.chance(0.7) ? "127.0.0.1" : rng.pick(HOSTS);
  const framing = body(rng);
  const extra = extraHeaders(rng);
  const head = [
    `${method} ${target} ${
      rng.chance(0.95) ? "HTTP/1.1" : rng.pick(["HTTP/1.0", "HTTP/2", "HTTP/9.9", ""])
    }`,
    ...(rng.chance(0.95) ? [`Host: ${host}`] : []),
    ...(rng.chance(0.7) ? ["Connection: close"] : []),
    ...framing.headers,
    ...extra,
  ].join("\r\n") + "\r\n\r\n";
  // Well-formed: a request a conforming server must answer (nothing above may be refused).
  const wellFormed = extra.length === 0 && framing.truthful && host === "127.0.0.1" &&
    /^(GET|POST|PUT|DELETE|OPTIONS)$/.test(method) && /^\/[\x21-\x7e]*$/.test(target) &&
    head.includes("HTTP/1.1\r\n") && head.includes("\r\nHost: ") && target.length < 4000;
  return { bytes: concatBytes([latin1(head), framing.bytes]), wellFormed };
}

// ---------------------------------------------------------------------------------------------
// WebSocket shapes

const VALID_KEY = "dGhlIHNhbXBsZSBub25jZQ==";

function handshake(rng: Rng, valid: boolean): string {
  const path = rng.pick([
    "/echo",
    "/echo",
    "/late-upgrade?ms=" + rng.int(200),
    "/reflect",
    "/nope",
  ]);
  const pick = <T>(good: T, bad: T[]) => valid || rng.chance(0.6) ? good : rng.pick(bad);
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${pick("127.0.0.1", HOSTS)}`,
    `Upgrade: ${pick("websocket", ["websocket, x", "x, websocket", "WebSocket", "", "h2c"])}`,
    `Connection: ${pick("Upgrade", ["keep-alive, Upgrade", "upgrade,upgrade", "close", ""])}`,
    `Sec-WebSocket-Key: ${
      pick(VALID_KEY, ["short", "", "dGhlIHNhbXBsZSBub25jZQ", "!".repeat(24)])
    }`,
    `Sec-WebSocket-Version: ${pick("13", ["8", "13, 8", "", "99999999999"])}`,
  ];
  const protocol = rng.pick([
    undefined,
    "chat",
    "chat, chat",
    "a b",
    "a,,b",
    ",",
    "",
    "\xe9",
    "x".repeat(5000),
    "chat, superchat",
  ]);
  // "chat" and "chat, superchat" are valid; the others must be refused before the 101.
  if (protocol !== undefined && (!valid || protocol === "chat" || protocol === "chat, superchat")) {
    lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
  }
  if (rng.chance(0.4)) {
    lines.push(
      `Sec-WebSocket-Extensions: ${
        rng.pick([
          "permessage-deflate",
          "permessage-deflate",
          "permessage-deflate; server_max_window_bits=99",
          "permessage-deflate; server_max_window_bits= 15",
          "x;;;",
        ])
      }`,
    );
  }
  if (rng.chance(0.1)) lines.push(`Origin: ${rng.pick(["http://evil.example", "null"])}`);
  if (!valid) lines.push(...extraHeaders(rng));
  return lines.join("\r\n") + "\r\n\r\n";
}

interface FrameSpec {
  fin?: boolean;
  rsv?: number;
  opcode: number;
  masked?: boolean;
  payload: Uint8Array;
  /** A length field that lies, or a non-minimal encoding: [indicator, value]. */
  length?: [number, bigint];
}

/** Encodes a frame with any bits, opcode and length encoding (Frame.pack only writes valid lengths). */
function frame(spec: FrameSpec, rng: Rng): Uint8Array {
  const { payload, masked = true } = spec;
  const n = payload.length;
  const [indicator, value] = spec.length ??
    (n < 126 ? [n, BigInt(n)] : n < 0x10000 ? [126, BigInt(n)] : [127, BigInt(n)]);
  const ext = indicator === 126 ? 2 : indicator === 127 ? 8 : 0;
  const head = new Uint8Array(2 + ext + (masked ? 4 : 0));
  head[0] = (spec.fin === false ? 0 : 0x80) | ((spec.rsv ?? 0) << 4) | (spec.opcode & 0x0f);
  head[1] = (masked ? 0x80 : 0) | indicator;
  const view = new DataView(head.buffer);
  if (ext === 2) view.setUint16(2, Number(value & 0xffffn));
  if (ext === 8) view.setBigUint64(2, value);
  const body = payload.slice();
  if (masked) {
    const key = rng.bytes(4);
    head.set(key, 2 + ext);
    for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  }
  return concatBytes([head, body]);
}

const INVALID_UTF8 = [[0xc3, 0x28], [0xed, 0xa0, 0x80], [0xff], [0xf4, 0x90, 0x80, 0x80], [
  0xe2,
  0x82,
]]
  .map((b) => new Uint8Array(b));

function closePayload(rng: Rng): Uint8Array {
  const code = rng.pick([
    1000,
    1001,
    999,
    1004,
    1005,
    1006,
    1015,
    1016,
    2999,
    3000,
    4999,
    5000,
    65535,
    0,
  ]);
  const reason = rng.pick([
    new Uint8Array(0),
    utf8("bye"),
    rng.pick(INVALID_UTF8),
    new Uint8Array(200),
  ]);
  const shape = rng.int(4);
  if (shape === 0) return new Uint8Array(0);
  if (shape === 1) return new Uint8Array([3]); // one byte: no room for a code
  return concatBytes([new Uint8Array([code >> 8, code & 0xff]), reason]);
}

/** One frame or a short sequence: valid traffic mixed with every protocol error. */
function frames(rng: Rng): Uint8Array[] {
  const text = (s: string, fin = true) => frame({ opcode: 1, payload: utf8(s), fin }, rng);
  switch (rng.int(14)) {
    case 0:
    case 1:
      return [text(rng.pick(["hi", "é€😀", "x".repeat(200), "y".repeat(70_000)]))];
    case 2:
      return [
        frame({ opcode: 2, payload: rng.bytes(rng.pick([0, 10, 1000, 65_536, 70_000])) }, rng),
      ];
    case 3: // fragmented, with a ping between fragments, maybe split inside a character
      return [
        frame({ opcode: 1, payload: utf8("é€😀").subarray(0, 3), fin: false }, rng),
        frame({ opcode: 9, payload: utf8("p") }, rng),
        frame({ opcode: 0, payload: utf8("é€😀").subarray(3), fin: rng.chance(0.8) }, rng),
      ];
    case 4: // fragmentation errors: stray continuation, new message inside one, oversized total
      return rng.pick([
        [frame({ opcode: 0, payload: utf8("stray") }, rng)],
        [text("a", false), text("b")],
        Array.from(
          { length: 3 },
          (_, i) =>
            frame({ opcode: i === 0 ? 2 : 0, payload: new Uint8Array(30_000), fin: i === 2 }, rng),
        ),
      ]);
    case 5: // reserved opcode
      return [
        frame({ opcode: rng.pick([3, 4, 5, 6, 7, 11, 12, 13, 14, 15]), payload: utf8("x") }, rng),
      ];
    case 6: // reserved bits; RSV1 alone on a compressed connection: bytes that are not deflate
      return [frame({
        opcode: rng.pick([1, 2, 9]),
        rsv: rng.chance(0.5) ? 4 : 1 + rng.int(7),
        payload: rng.chance(0.5) ? rng.bytes(1 + rng.int(64)) : utf8("x"),
      }, rng)];
    case 7: // unmasked
      return [frame({ opcode: 1, payload: utf8("unmasked"), masked: false }, rng)];
    case 8: { // invalid UTF-8, whole or across fragments
      const bad = rng.pick(INVALID_UTF8);
      return rng.chance(0.5) ? [frame({ opcode: 1, payload: bad }, rng)] : [
        frame({ opcode: 1, payload: bad.subarray(0, 1), fin: false }, rng),
        frame({ opcode: 0, payload: bad.subarray(1) }, rng),
      ];
    }
    case 9: // control frames: too long, fragmented
      return [frame({
        opcode: rng.pick([8, 9, 10]),
        payload: new Uint8Array(rng.pick([125, 126, 200])),
        fin: rng.chance(0.5),
      }, rng)];
    case 10: // Close with any code or payload shape
      return [frame({ opcode: 8, payload: closePayload(rng) }, rng)];
    case 11: { // lying or non-minimal lengths
      const length = rng.pick<[number, bigint]>([
        [127, 2n ** 63n + 5n],
        [127, 2n ** 53n],
        [127, 5n],
        [126, 5n],
        [126, 60_000n],
        [127, 0xffffffffn],
      ]);
      return [frame({ opcode: rng.pick([1, 2]), payload: utf8("short"), length }, rng)];
    }
    case 12: // random bytes
      return [rng.bytes(1 + rng.int(64))];
    default: { // a valid frame with a few bits flipped
      const bytes = text("mutate me please");
      for (let i = rng.int(4); i >= 0; i--) bytes[rng.int(bytes.length)] ^= 1 << rng.int(8);
      return [bytes];
    }
  }
}

// ---------------------------------------------------------------------------------------------
// running cases

/** Random byte edits: flip, insert, delete, duplicate a slice, cut. */
function mutate(rng: Rng, input: Uint8Array): Uint8Array {
  let bytes = Array.from(input);
  for (let i = 1 + rng.int(6); i > 0; i--) {
    const at = rng.int(bytes.length + 1);
    switch (rng.int(5)) {
      case 0:
        if (bytes.length) bytes[at % bytes.length] ^= 1 << rng.int(8);
        break;
      case 1:
        bytes.splice(at, 0, ...rng.pick([[rng.int(256)], [13, 10], [0], [0x3a], [0x20]]));
        break;
      case 2:
        bytes.splice(at, 1 + rng.int(8));
        break;
      case 3:
        bytes.splice(at, 0, ...bytes.slice(at, at + rng.int(64)));
        break;
      default:
        bytes = bytes.slice(0, at);
    }
  }
  return Uint8Array.from(bytes);
}

/** A step of a case: bytes to write, a pause, or how the client leaves. */
type Step = Uint8Array | number | "end" | "reset";

/** Splits `bytes` into random pieces with pauses between them: a body that trickles. */
function trickle(rng: Rng, bytes: Uint8Array): Step[] {
  const steps: Step[] = [];
  for (let at = 0; at < bytes.length;) {
    const size = 1 + rng.int(Math.min(bytes.length - at, rng.pick([1, 16, 512, 65_536])));
    steps.push(bytes.subarray(at, at + size), rng.int(40));
    at += size;
  }
  return steps;
}

interface Outcome {
  /** The first 4 KiB or so the server sent, as Latin-1. */
  received: string;
  /** Whether the server closed the connection before the case gave up. */
  ended: boolean;
}

/** Opens a socket and runs `steps`; `waitFor` resolves true once the answer is complete. */
function runCase(
  port: number,
  steps: Step[] | ((socket: Socket, received: () => string) => Promise<Step[]>),
): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, "127.0.0.1");
    let received = "";
    let ended = false;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ received, ended });
    };
    // The hard bound: no case outlives CASE_MS, whatever the server does or does not send.
    const timer = setTimeout(finish, CASE_MS);
    socket.setTimeout(CASE_MS, finish);
    socket.on("error", () => {
      ended = true;
      finish();
    });
    socket.on("close", () => {
      ended = true;
      finish();
    });
    socket.on("data", (chunk: Uint8Array) => {
      if (received.length < 4096) received += String.fromCharCode(...chunk.subarray(0, 4096));
    });
    socket.on("connect", async () => {
      try {
        const list = typeof steps === "function" ? await steps(socket, () => received) : steps;
        for (const step of list) {
          if (finished || socket.destroyed) return;
          if (typeof step === "number") await new Promise((r) => setTimeout(r, step));
          else if (step === "end") socket.end();
          else if (step === "reset") {
            // An RST where the runtime can send one, else a plain close.
            const raw = socket as Socket & { resetAndDestroy?(): void };
            if (raw.resetAndDestroy) raw.resetAndDestroy();
            else socket.destroy();
            return finish();
          } else socket.write(step);
        }
      } catch {
        finish();
      }
    });
  });
}

/** Resolves once `received()` holds a whole response head, or false after `ms`. */
async function headArrives(received: () => string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (received().includes("\r\n\r\n")) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

interface Finding {
  kind: string;
  detail: string;
}

/** Runs one random case and checks what came back (see {@link check}). */
async function fuzzCase(rng: Rng, port: number): Promise<{ kind: string; finding?: Finding }> {
  const kind = rng.pick([
    "http",
    "http",
    "mutated-http",
    "handshake",
    "handshake-reset",
    "ws",
    "ws",
    "garbage",
  ]);
  const leave = (): Step[] =>
    rng.pick<Step[]>([["end"], ["reset"], [rng.int(300), "reset"], [CASE_MS]]);
  switch (kind) {
    case "http": {
      const { bytes, wellFormed } = httpRequest(rng);
      const steps = rng.chance(0.3) ? trickle(rng, bytes) : [bytes];
      const outcome = await runCase(port, [...steps, ...(wellFormed ? [CASE_MS] : leave())]);
      return { kind, finding: check(kind, bytes, outcome, wellFormed) };
    }
    case "mutated-http": {
      const source = rng.chance(0.5) ? httpRequest(rng).bytes : latin1(handshake(rng, true));
      const bytes = mutate(rng, source);
      return { kind, finding: check(kind, bytes, await runCase(port, [bytes, ...leave()])) };
    }
    case "handshake": {
      const bytes = latin1(handshake(rng, false));
      return { kind, finding: check(kind, bytes, await runCase(port, [bytes, ...leave()])) };
    }
    case "handshake-reset": {
      // The client leaves before, during or right after the handshake.
      const bytes = latin1(handshake(rng, true));
      const cut = rng.pick([0, 1, rng.int(bytes.length), bytes.length]);
      await runCase(port, [
        bytes.subarray(0, cut),
        rng.pick([0, 0, 5, 50]),
        rng.pick<Step>(["reset", "end"]),
      ]);
      return { kind };
    }
    case "ws": {
      const upgrade = latin1(handshake(rng, true));
      const plan: Step[] = [];
      for (let i = 1 + rng.int(5); i > 0; i--) {
        for (const bytes of frames(rng)) {
          plan.push(...(rng.chance(0.2) ? trickle(rng, bytes) : [bytes]));
        }
        if (rng.chance(0.3)) plan.push(rng.int(30));
      }
      const ending = rng.pick<Step[]>([
        [frame({ opcode: 8, payload: new Uint8Array([0x03, 0xe8]) }, rng), 200, "end"],
        ["reset"],
        // Abruptly, in the middle of a frame.
        [
          frame({ opcode: 2, payload: new Uint8Array(1000) }, rng).subarray(0, 1 + rng.int(999)),
          "reset",
        ],
        [CASE_MS],
      ]);
      const eager = rng.chance(0.2);
      const outcome = await runCase(port, async (socket, received) => {
        socket.write(upgrade);
        // Frames go after the 101 (or its refusal), or at times right behind the request, unasked.
        if (!eager) await headArrives(received, 1000);
        return [...plan, ...ending];
      });
      return { kind, finding: check(kind, upgrade, outcome) };
    }
    default: {
      const bytes = rng.bytes(1 + rng.int(2048));
      return { kind, finding: check(kind, bytes, await runCase(port, [bytes, ...leave()])) };
    }
  }
}

/** A line of /etc/passwd: a path that climbed out of the served folder. */
const PASSWD = /root:[^:\n]*:0:0:/;

/**
 * What no answer may show, whatever was sent: a header line the query injected, a file from
 * outside the served folder; and a well-formed request must get an answer.
 */
function check(
  kind: string,
  sent: Uint8Array,
  { received }: Outcome,
  wellFormed = false,
): Finding | undefined {
  const headEnd = received.indexOf("\r\n\r\n");
  const head = headEnd < 0 ? received : received.slice(0, headEnd);
  let problem: string | undefined;
  if (/[\r\n](X-Injected|Set-Cookie: injected)/i.test(head)) problem = "injected header";
  else if (PASSWD.test(received)) problem = "file outside the served folder";
  else if (wellFormed && !/^HTTP\/1\.1 \d{3} /.test(received)) problem = "unanswered";
  if (!problem) return undefined;
  return {
    kind: `${problem} (${kind})`,
    detail: `sent ${JSON.stringify(new TextDecoder("latin1").decode(sent.subarray(0, 600)))}` +
      ` got ${JSON.stringify(received.slice(0, 300))}`,
  };
}

// ---------------------------------------------------------------------------------------------

interface Stats {
  connection_num: number;
  coroutine_num: number;
  rss: number;
}

test(`[${runtime}] fuzzing over the network leaves the server alive, empty and bounded`, async () => {
  const server = await startServer("fixtures/fuzz.ts");
  const seed = `FUZZ_SEED=${SEED}`;
  let exitCode: number | null | "running" = "running";
  void server.exited.then((code) => exitCode = code);
  const context = () =>
    `${seed} (${runtime})\nserver output (tail):\n${server.output().slice(-4000)}`;
  const stats = async (): Promise<Stats> => {
    const response = await within(fetch(`${server.url}/stats`), 5000, `/stats, ${seed}`);
    return await response.json() as Stats;
  };
  try {
    const before = await stats();
    const rng = new Rng(SEED);
    const counts: Record<string, number> = {};
    const findings: Finding[] = [];
    const deadline = Date.now() + SECONDS * 1000;
    // Each worker draws its own sub-seed from the main generator, so the sequence of bytes each
    // one sends depends on the seed only, not on how the workers interleave.
    const workers = Array.from({ length: CONCURRENCY }, async () => {
      const own = new Rng(rng.int(2 ** 32));
      while (Date.now() < deadline && exitCode === "running") {
        const { kind, finding } = await fuzzCase(own, server.port);
        counts[kind] = (counts[kind] ?? 0) + 1;
        if (finding && findings.length < 5) findings.push(finding);
      }
    });
    await Promise.all(workers);
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    console.log(`fuzz ${seed}: ${total} cases in ${SECONDS} s ${JSON.stringify(counts)}`);

    assert.equal(
      exitCode,
      "running",
      `the server exited (${exitCode}) during fuzzing\n${context()}`,
    );
    // Leftover handlers get the fixture's close and idle timeouts (1 s, 5 s) to finish.
    let after = await stats();
    for (const stop = Date.now() + 8000; Date.now() < stop;) {
      if (after.coroutine_num === 1 && after.connection_num === 0) break;
      await new Promise((r) => setTimeout(r, 100));
      after = await stats();
    }
    assert.deepEqual(
      { coroutine_num: after.coroutine_num, connection_num: after.connection_num },
      { coroutine_num: 1, connection_num: 0 },
      `handlers or connections left after fuzzing: ${JSON.stringify(after)}\n${context()}`,
    );
    const growth = after.rss - before.rss;
    console.log(`fuzz ${seed}: RSS ${before.rss / MIB | 0} MiB -> ${after.rss / MIB | 0} MiB`);
    assert.ok(
      growth < RSS_BOUND,
      `RSS grew ${growth / MIB | 0} MiB (bound ${RSS_BOUND / MIB}) ${context()}`,
    );
    assert.deepEqual(findings, [], `answers that break a rule:\n${context()}`);

    const plain = await within(fetch(`${server.url}/`), 5000, `GET /, ${seed}`);
    assert.equal(plain.status, 200, `GET / after fuzzing, ${seed}`);
    assert.equal(await plain.text(), "ok");
    const client = await within(open(`${server.wsUrl}/echo`), 5000, `WebSocket open, ${seed}`);
    await client.push("still echoing");
    assert.equal(await message(client), "still echoing", `echo after fuzzing, ${seed}`);
    assert.equal(
      await within(client.disconnect(1000), 5000, `WebSocket close, ${seed}`),
      true,
      `the server answered the Close, ${seed}`,
    );
    assert.equal(exitCode, "running", `the server exited (${exitCode})\n${context()}`);
  } catch (error) {
    // The seed, on every failure, including those thrown outside the assertions above.
    console.error(`fuzz failed with ${seed} on ${runtime}`);
    throw error;
  } finally {
    server.kill();
  }
});
