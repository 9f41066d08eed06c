/**
 * A client-side load generator that runs on any runtime, for `scripts/bench/clients.ts`: N
 * connections each send a message and wait for the seed echo's two replies, over and over, with
 * coro-ws's `Client`, the runtime's own `WebSocket`, a bare pull wrapper around it (a queue
 * and a promise, no limits: what the pull model itself costs), or a bare RFC 6455 codec over the
 * runtime's `node:net` (`Frame.pack` and `decodeFrame`, callbacks, no checks: the most an engine
 * of the project's own over TCP could reach before its limits, checks and the pull API). Prints one JSON line:
 * `{ "throughput": round trips per second }`. With `--mode handshake` each loop instead connects,
 * sends one message, waits for its two replies and closes, over and over (the harness's handshake
 * workload, from a second load generator), and throughput counts those cycles.
 *
 *   <runtime> scripts/bench/client_load.ts --library coro|raw|pull|codec --url ws://HOST:PORT/websocket
 *     [--mode echo|handshake] [--connections 100] [--duration 3] [--warmup 1]
 */

import { connect } from "node:net";
import process from "node:process";
import { Client, FLAG, Frame, OPCODE } from "../../mod.ts";
import { concatBytes, decodeFrame } from "../../src/core/frame.ts";
import { arg } from "./processes.ts";

const library = arg("library", "coro");
const url = arg("url", "ws://127.0.0.1:9502/websocket");
const connections = Number(arg("connections", "100"));
const duration = Number(arg("duration", "3"));
const warmup = Number(arg("warmup", "1"));
const mode = arg("mode", "echo");

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

/**
 * One connection's loop with the bare codec over `node:net`: a fixed handshake (its answer is
 * not checked), masked frames out, frames decoded from each read.
 */
function codecLoop(): Promise<void> {
  const target = new URL(url);
  const socket = connect(Number(target.port), target.hostname);
  socket.setNoDelay(true);
  const send = () => socket.write(Frame.pack("bench", OPCODE.TEXT, FLAG.FIN | FLAG.MASK));
  let pending: Uint8Array = new Uint8Array(0);
  let upgraded = false;
  let replies = 0;
  socket.on("connect", () => {
    socket.write(
      `GET ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\n` +
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        "Sec-WebSocket-Version: 13\r\n\r\n",
    );
  });
  return new Promise((resolve, reject) => {
    socket.on("error", reject);
    socket.on("data", (chunk: Uint8Array) => {
      let bytes = pending.length > 0 ? concatBytes([pending, chunk]) : chunk;
      if (!upgraded) {
        const end = new TextDecoder("latin1").decode(bytes).indexOf("\r\n\r\n");
        if (end < 0) return void (pending = bytes);
        upgraded = true;
        bytes = bytes.subarray(end + 4);
        send();
      }
      let offset = 0;
      for (let decoded; (decoded = decodeFrame(bytes, offset)); offset += decoded.length) {
        if (++replies < 2) continue;
        replies = 0;
        done();
        if (running) send();
        else {
          socket.destroy();
          resolve();
        }
      }
      pending = bytes.slice(offset);
    });
  });
}

const LIBRARIES = { raw: rawLoop, pull: pullLoop, coro: coroLoop, codec: codecLoop };
const loop = mode === "handshake" ? coroHandshakes : LIBRARIES[library as keyof typeof LIBRARIES];
if (!loop) throw new Error(`--library: pass raw, pull, coro or codec, got ${library}`);
const loops = Array.from({ length: connections }, loop);
await new Promise((resolve) => setTimeout(resolve, warmup * 1000));
measuring = true;
const started = performance.now();
await new Promise((resolve) => setTimeout(resolve, duration * 1000));
measuring = false;
const seconds = (performance.now() - started) / 1000;
running = false;
console.log(JSON.stringify({ throughput: Math.round(completed / seconds) }));
await Promise.race([Promise.allSettled(loops), new Promise((r) => setTimeout(r, 1000))]);
process.exit(0);
