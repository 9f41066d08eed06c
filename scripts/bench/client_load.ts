/**
 * A client-side load generator that runs on any runtime, for `scripts/bench/clients.ts`: N
 * connections each send a message and wait for the seed echo's two replies, over and over, with
 * coro-ws's `Client`, the runtime's own `WebSocket`, a bare pull wrapper around it (a queue
 * and a promise, no limits: what the pull model itself costs), or a bare RFC 6455 codec over the
 * runtime's own sockets (callbacks, no checks: the most an engine of the project's own could
 * reach on that transport before its limits, checks and the pull API). Prints one JSON line:
 * `{ "throughput": round trips per second, "perCpuSecond": per CPU second of this process }`
 * (the second holds on a machine other work shares). With `--mode handshake` each loop instead
 * connects, sends one message, waits for its two replies and closes, over and over (the
 * harness's handshake workload, from a second load generator), and throughput counts those
 * cycles.
 *
 *   <runtime> scripts/bench/client_load.ts --library coro|raw|pull|codec --url ws://HOST:PORT/websocket
 *     [--mode echo|handshake] [--connections 100] [--duration 3] [--warmup 1]
 *     [--transport native|node]   (the codec's sockets: the runtime's own, or node:net)
 */

import { connect } from "node:net";
import process from "node:process";
import { Client } from "../../mod.ts";
import { concatBytes } from "../../src/core/frame.ts";
import { arg } from "./processes.ts";

const library = arg("library", "coro");
const url = arg("url", "ws://127.0.0.1:9502/websocket");
const connections = Number(arg("connections", "100"));
const duration = Number(arg("duration", "3"));
const warmup = Number(arg("warmup", "1"));
const mode = arg("mode", "echo");
const transport = arg("transport", "native");

let measuring = false;
let running = true;
let completed = 0;
const done = () => {
  if (measuring) completed++;
};

/** One connection's loop with coro-ws: push, then two recv()s. */
async function coroLoop(): Promise<void> {
  const client = await Client.connect(url);
  while (running) {
    await client.push("bench");
    for (let reply = 0; reply < 2; reply++) {
      const frame = await client.recv();
      if (frame === "" || frame === false) throw new Error(`recv: ${client.errMsg}`);
    }
    done();
  }
  client.close();
}

/** One loop of handshakes with coro-ws: connect, one echo, close. */
async function coroHandshakes(): Promise<void> {
  while (running) {
    const client = await Client.connect(url);
    await client.push("bench");
    await client.recv();
    await client.recv();
    client.close();
    done();
  }
}

/** One connection's loop with the runtime's WebSocket: callbacks. */
function rawLoop(): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    let replies = 0;
    socket.onopen = () => socket.send("bench");
    socket.onerror = () => reject(new Error("raw client failed"));
    socket.onmessage = () => {
      if (++replies < 2) return;
      replies = 0;
      done();
      if (running) socket.send("bench");
      else {
        socket.close();
        resolve();
      }
    };
  });
}

/**
 * One connection's loop over the runtime's WebSocket with the least a pull API needs: a queue,
 * a waiting promise, and an awaited push() and recv() per message.
 */
async function pullLoop(): Promise<void> {
  const socket = new WebSocket(url);
  const queue: unknown[] = [];
  let wake: ((data: unknown) => void) | undefined;
  socket.onmessage = (event) => {
    if (!wake) return void queue.push(event.data);
    const resolve = wake;
    wake = undefined;
    resolve(event.data);
  };
  await new Promise((resolve) => socket.onopen = resolve);
  const sent = Promise.resolve(true);
  const push = (data: string) => (socket.send(data), sent);
  const recv = () =>
    queue.length > 0 ? Promise.resolve(queue.shift()) : new Promise((resolve) => wake = resolve);
  while (running) {
    await push("bench");
    await recv();
    await recv();
    done();
  }
  socket.close();
}

const HANDSHAKE = (target: URL) =>
  new TextEncoder().encode(
    `GET ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\n` +
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
      "Sec-WebSocket-Version: 13\r\n\r\n",
  );

/**
 * A bare stream decoder for the codec loop: skips the answer's head (unchecked), then counts
 * whole frames in each read and decodes their text, with no copies and no checks.
 */
function leanFramer(send: () => void, finish: () => void): (chunk: Uint8Array) => void {
  let pending: Uint8Array | undefined;
  let upgraded = false;
  let replies = 0;
  const text = new TextDecoder();
  return (chunk) => {
    const bytes = pending ? concatBytes([pending, chunk]) : chunk;
    pending = undefined;
    let offset = 0;
    if (!upgraded) {
      const end = new TextDecoder("latin1").decode(bytes).indexOf("\r\n\r\n");
      if (end < 0) return void (pending = bytes.slice());
      upgraded = true;
      offset = end + 4;
      send();
    }
    while (bytes.length - offset >= 2) {
      let length = bytes[offset + 1] & 0x7f;
      let at = offset + 2;
      if (length === 126) {
        if (bytes.length - offset < 4) break;
        length = (bytes[at] << 8) | bytes[at + 1];
        at += 2;
      }
      if (bytes.length < at + length) break;
      text.decode(bytes.subarray(at, at + length));
      offset = at + length;
      if (++replies < 2) continue;
      replies = 0;
      done();
      if (running) send();
      else finish();
    }
    if (offset < bytes.length) pending = bytes.slice(offset);
  };
}

const keys = new Uint8Array(8192);
let keyAt = keys.length;
/** A masked text frame with a key from a pooled random buffer. */
function leanFrame(payload: Uint8Array): Uint8Array {
  if (keyAt + 4 > keys.length) {
    crypto.getRandomValues(keys);
    keyAt = 0;
  }
  const bytes = new Uint8Array(6 + payload.length);
  bytes[0] = 0x81;
  bytes[1] = 0x80 | payload.length;
  bytes[2] = keys[keyAt];
  bytes[3] = keys[keyAt + 1];
  bytes[4] = keys[keyAt + 2];
  bytes[5] = keys[keyAt + 3];
  for (let i = 0; i < payload.length; i++) bytes[6 + i] = payload[i] ^ keys[keyAt + (i & 3)];
  keyAt += 4;
  return bytes;
}

/**
 * One connection's loop with a bare RFC 6455 codec over the runtime's own sockets
 * (`Bun.connect`, `Deno.connect`; `node:net` on Node, or everywhere with `--transport node`):
 * a fixed handshake, masked frames out, frames counted from each read. The most an engine of
 * the project's own could reach on that transport, before its checks, limits and the pull API.
 */
function codecLoop(): Promise<void> {
  const target = new URL(url);
  const payload = new TextEncoder().encode("bench");
  const frame = () => leanFrame(payload);
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  if (g.Bun && transport === "native") {
    return new Promise((resolve, reject) => {
      // deno-lint-ignore no-explicit-any
      let sock: any;
      const feed = leanFramer(() => sock.write(frame()), () => (sock.end(), resolve()));
      g.Bun.connect({
        hostname: target.hostname,
        port: Number(target.port),
        socket: {
          // deno-lint-ignore no-explicit-any
          open(s: any) {
            sock = s;
            s.write(HANDSHAKE(target));
          },
          // deno-lint-ignore no-explicit-any
          data(_s: any, chunk: Uint8Array) {
            feed(chunk);
          },
          error: reject,
        },
      }).catch(reject);
    });
  }
  if (g.Deno && transport === "native") {
    return (async () => {
      const conn = await g.Deno.connect({ hostname: target.hostname, port: Number(target.port) });
      conn.setNoDelay(true);
      let finished = false;
      const feed = leanFramer(() => void conn.write(frame()), () => finished = true);
      await conn.write(HANDSHAKE(target));
      const buffer = new Uint8Array(64 * 1024);
      while (!finished) {
        const n = await conn.read(buffer);
        if (n === null) break;
        feed(buffer.subarray(0, n));
      }
      conn.close();
    })();
  }
  return new Promise((resolve, reject) => {
    const socket = connect(Number(target.port), target.hostname);
    socket.setNoDelay(true);
    const feed = leanFramer(() => socket.write(frame()), () => (socket.destroy(), resolve()));
    socket.on("connect", () => socket.write(HANDSHAKE(target)));
    socket.on("error", reject);
    socket.on("data", feed);
  });
}

const LIBRARIES = { raw: rawLoop, pull: pullLoop, coro: coroLoop, codec: codecLoop };
const loop = mode === "handshake" ? coroHandshakes : LIBRARIES[library as keyof typeof LIBRARIES];
if (!loop) throw new Error(`--library: pass raw, pull, coro or codec, got ${library}`);
const loops = Array.from({ length: connections }, loop);
await new Promise((resolve) => setTimeout(resolve, warmup * 1000));
measuring = true;
const started = performance.now();
const cpuBefore = process.cpuUsage();
await new Promise((resolve) => setTimeout(resolve, duration * 1000));
measuring = false;
const cpu = process.cpuUsage(cpuBefore);
const seconds = (performance.now() - started) / 1000;
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
running = false;
// Per CPU second of this process too: on a machine other work shares, the wall-clock rate
// measures the share of the CPU the process got as much as the client itself.
console.log(JSON.stringify({
  throughput: Math.round(completed / seconds),
  perCpuSecond: Math.round(completed / cpuSeconds),
}));
await Promise.race([Promise.allSettled(loops), new Promise((r) => setTimeout(r, 1000))]);
process.exit(0);
