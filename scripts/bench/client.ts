#!/usr/bin/env node
/**
 * Dependency-free WebSocket load generator (Node 24) for the benchmark harness.
 *
 *   node scripts/bench/client.ts --url ws://127.0.0.1:PORT/websocket
 *     --mode echo|broadcast|idle|handshake
 *     [--connections N=100] [--inflight P=1] [--size S=32] [--replies R=2] [--duration D=5]
 *     [--warmup W=1] [--open-concurrency C=200] [--sender-url ws://HOST:PORT/PATH]
 *     [--local-address 127.0.0.N] [--deflate 1]
 *
 * `--deflate 1` offers permessage-deflate without context takeover and sends each message as
 * JSON of `--size` bytes, compressed once (with RSV1) where the server accepted the offer;
 * the report then also gives the bytes received per reply (`wire_bytes_per_reply`), read off
 * the socket, so compressed replies count as sent.
 *
 * `--local-address` binds the connections to one source address: each gives about 28,000
 * ephemeral ports towards one server, so idle runs past that split across several clients.
 *
 * Broadcast mode: one connection sends, every connection must receive each message, and
 * throughput counts deliveries. With `--sender-url` the sender is an extra connection to that
 * URL (e.g. another server process sharing a broker) and is not a receiver: the `--connections`
 * receivers at `--url` are the ones counted. Before the pipeline starts it then sends one probe
 * at a time until the receivers get one, since messages published before the receiving server's
 * subscription is in place (a Redis SUBSCRIBE in flight) are lost for good.
 *
 * Prints exactly one JSON line on stdout; diagnostics go to stderr. Built to cost the client as
 * little CPU as possible so the server stays the bottleneck: raw `node:net` sockets reading into
 * one shared buffer, client frames encoded once and reused, and server frames only delimited
 * (headers parsed, payloads skipped, never decoded).
 *
 * Handshake mode: each of the `--connections` loops opens a connection, sends one message, waits
 * for its `--replies` replies and closes, over and over; throughput counts these whole cycles and
 * the latencies are theirs, from connect to the last reply.
 *
 * Replies are counted as whole messages (FIN data frames), so a server that fragments still counts
 * once per message; pings are answered. In idle mode, and when nothing could be opened, client_cpu
 * covers the opening phase instead of a measured window.
 */
import { createHash, randomBytes } from "node:crypto";
import { fstatSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { constants as zlibConstants, deflateRawSync } from "node:zlib";
import process from "node:process";

type Mode = "echo" | "broadcast" | "idle" | "handshake";

interface Options {
  url: URL;
  mode: Mode;
  connections: number;
  inflight: number;
  size: number;
  replies: number;
  duration: number;
  warmup: number;
  openConcurrency: number;
  /** Broadcast mode: where the sender connects, when it is not one of the receivers. */
  senderUrl: URL | null;
  localAddress: string | undefined;
  deflate: boolean;
}

const USAGE =
  `usage: node scripts/bench/client.ts --url ws://HOST:PORT/PATH --mode echo|broadcast|idle|handshake
  [--connections N=100] [--inflight P=1] [--size S=32] [--replies R=2] [--duration D=5]
  [--warmup W=1] [--open-concurrency C=200] [--sender-url ws://HOST:PORT/PATH]
  [--local-address 127.0.0.N] [--deflate 1]`;

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const HANDSHAKE_TIMEOUT_MS = 10_000;
const CLOSE_GRACE_MS = 1_000;
/** `--sender-url`: how long to wait for a probe before sending another, and in all. */
const PROBE_INTERVAL_MS = 200;
const PROBE_TIMEOUT_MS = 10_000;
/** `--sender-url`: quiet time after the first probe lands, for any later ones to land too. */
const PROBE_SETTLE_MS = 300;
/** Fixed mask key: masking is required by RFC 6455, its randomness only matters for proxies. */
const MASK_KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const OPCODE_CLOSE = 0x8;
const OPCODE_PING = 0x9;
const OPCODE_PONG = 0xa;

class UsageError extends Error {}

function parseOptions(argv: string[]): Options {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i];
    const value = argv[i + 1];
    if (!name.startsWith("--")) throw new UsageError(`unexpected argument: ${name}`);
    if (value === undefined) throw new UsageError(`missing value for ${name}`);
    values.set(name.slice(2), value);
  }
  const known = [
    "url",
    "mode",
    "connections",
    "inflight",
    "size",
    "replies",
    "duration",
    "warmup",
    "open-concurrency",
    "sender-url",
    "local-address",
    "deflate",
  ];
  for (const name of values.keys()) {
    if (!known.includes(name)) throw new UsageError(`unknown option: --${name}`);
  }
  const number = (name: string, fallback: number, min: number, integer = true): number => {
    const text = values.get(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
      throw new UsageError(`--${name} must be ${integer ? "an integer" : "a number"} >= ${min}`);
    }
    return value;
  };
  const wsUrl = (name: string): URL | null => {
    const text = values.get(name);
    if (text === undefined) return null;
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new UsageError(`invalid --${name}: ${text}`);
    }
    if (url.protocol !== "ws:") throw new UsageError(`--${name} must start with ws:// (no TLS)`);
    return url;
  };
  const url = wsUrl("url");
  if (url === null) throw new UsageError("--url is required");
  const mode = values.get("mode");
  if (mode !== "echo" && mode !== "broadcast" && mode !== "idle" && mode !== "handshake") {
    throw new UsageError("--mode must be echo, broadcast, idle or handshake");
  }
  const senderUrl = wsUrl("sender-url");
  if (senderUrl !== null && mode !== "broadcast") {
    throw new UsageError("--sender-url only applies to --mode broadcast");
  }
  return {
    url,
    senderUrl,
    mode,
    connections: number("connections", 100, 1),
    inflight: number("inflight", 1, 1),
    size: number("size", 32, 0),
    replies: number("replies", 2, 1),
    duration: number("duration", 5, 0, false),
    warmup: number("warmup", 1, 0, false),
    openConcurrency: number("open-concurrency", 200, 1),
    localAddress: values.get("local-address"),
    deflate: values.get("deflate") === "1",
  };
}

/** Bytes read from every socket while `countingBytes` (the measured window). */
let bytesReceived = 0;
let countingBytes = false;

/** JSON records cut to `size` bytes: compressible as real traffic is, unlike one repeated byte. */
function jsonPayload(size: number): Buffer {
  let text = "";
  for (let i = 0; text.length < size; i++) {
    text += JSON.stringify({ id: i, user: `user${i % 7}`, room: "lobby", text: `message ${i}` });
  }
  return Buffer.from(text.slice(0, size));
}

/** A message compressed as RFC 7692 says: sync flush, without the empty block's 4-byte tail. */
function deflatePayload(payload: Buffer): Buffer {
  const bytes = deflateRawSync(payload, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  return bytes.subarray(0, bytes.length - 4);
}

/** Builds one complete masked client frame (FIN set; RSV1 too when `compressed`). */
function encodeClientFrame(opcode: number, payload: Buffer, compressed = false): Buffer {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const headerLength = 2 + lengthBytes + 4;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x80 | (compressed ? 0x40 : 0) | opcode;
  if (lengthBytes === 0) {
    frame[1] = 0x80 | length;
  } else if (lengthBytes === 2) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  MASK_KEY.copy(frame, 2 + lengthBytes);
  for (let i = 0; i < length; i++) {
    frame[headerLength + i] = payload[i] ^ MASK_KEY[i & 3];
  }
  return frame;
}

/** Latencies in ms, in a growable typed array so recording stays allocation-free. */
class LatencyRecorder {
  samples = new Float64Array(1 << 16);
  count = 0;

  record(ms: number): void {
    if (this.count === this.samples.length) {
      const grown = new Float64Array(this.samples.length * 2);
      grown.set(this.samples);
      this.samples = grown;
    }
    this.samples[this.count++] = ms;
  }

  reset(): void {
    this.count = 0;
  }

  /** Nearest-rank percentiles, or null when nothing was recorded. */
  percentiles(fractions: number[]): (number | null)[] {
    if (this.count === 0) return fractions.map(() => null);
    const sorted = this.samples.slice(0, this.count).sort();
    return fractions.map((fraction) =>
      sorted[Math.min(this.count - 1, Math.max(0, Math.ceil(fraction * this.count) - 1))]
    );
  }
}

/**
 * Every socket reads into this one buffer: parsing is synchronous and keeps no reference to it
 * (a header split across reads is copied out), so sharing it avoids an allocation per read and
 * 64 KiB per idle connection.
 */
const sharedReadBuffer = Buffer.allocUnsafe(64 * 1024);

/** One client connection: handshake, then counting of whole server messages. */
class WsConnection {
  /** Position among the open connections once opening is done (indexes per-connection state). */
  index: number;
  socket: Socket | null = null;
  open = false;
  /** Set once we close it ourselves, so the server's reaction is not counted as an error. */
  closing = false;
  failed = false;
  /** The server accepted permessage-deflate. */
  deflate = false;
  /** Whole data messages received (FIN data frames). */
  messagesReceived = 0;
  onMessage: (connection: WsConnection) => void = () => {};
  onFailure: (connection: WsConnection, reason: string) => void = () => {};

  private handshakeBuffer: Buffer | null = null;
  private expectedAccept = "";
  private resolveOpen: ((opened: boolean) => void) | null = null;
  /** A frame header split across reads (at most 14 bytes). */
  private partialHeader = Buffer.allocUnsafe(14);
  private partialHeaderLength = 0;
  private payloadRemaining = 0;
  private frameOpcode = 0;
  private frameFin = false;
  /** Only control frames are buffered, and only pings need it (to echo them in the pong). */
  private controlPayload: Buffer | null = null;
  private controlPayloadLength = 0;

  constructor(index: number) {
    this.index = index;
  }

  connect(url: URL, localAddress?: string, offerDeflate = false): Promise<boolean> {
    return new Promise((resolve) => {
      this.resolveOpen = resolve;
      const key = randomBytes(16).toString("base64");
      this.expectedAccept = createHash("sha1").update(key + WS_GUID).digest("base64");
      const port = url.port === "" ? 80 : Number(url.port);
      const host = url.hostname.replace(/^\[|\]$/g, "");
      const socket = connect({
        host,
        port,
        localAddress,
        noDelay: true,
        onread: {
          buffer: sharedReadBuffer,
          callback: (bytesRead: number, buffer: Uint8Array) => {
            if (countingBytes) bytesReceived += bytesRead;
            this.receive(buffer as Buffer, bytesRead);
            return true;
          },
        },
      });
      this.socket = socket;
      socket.setTimeout(HANDSHAKE_TIMEOUT_MS, () => this.fail("handshake timed out"));
      socket.on("connect", () => {
        socket.write(
          `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n` +
            `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
            `Sec-WebSocket-Version: 13\r\n` +
            (offerDeflate
              ? "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n"
              : "") +
            "\r\n",
        );
      });
      socket.on("error", (error) => this.fail(error.message));
      socket.on("end", () => this.fail("server ended the connection"));
      socket.on("close", () => this.fail("connection closed"));
    });
  }

  send(frame: Buffer): void {
    this.socket!.write(frame);
  }

  /** Closes politely (Close frame, then FIN); resolves once the socket is gone. */
  close(closeFrame: Buffer): Promise<void> {
    const socket = this.socket;
    this.closing = true;
    if (socket === null || socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      socket.once("close", () => resolve());
      if (this.open) socket.end(closeFrame);
      else socket.destroy();
    });
  }

  private fail(reason: string): void {
    if (this.failed) return;
    this.failed = true;
    this.open = false;
    this.socket?.destroy();
    if (this.resolveOpen !== null) {
      this.resolveOpen(false);
      this.resolveOpen = null;
    }
    if (!this.closing) this.onFailure(this, reason);
  }

  private receive(chunk: Buffer, length: number): void {
    if (this.failed) return;
    if (!this.open) {
      this.receiveHandshake(chunk, length);
      return;
    }
    // Sends triggered by this read (echo replies) leave in one writev.
    const socket = this.socket!;
    socket.cork();
    this.parseFrames(chunk, 0, length);
    socket.uncork();
  }

  private receiveHandshake(chunk: Buffer, length: number): void {
    const received = Buffer.from(chunk.subarray(0, length));
    const response = this.handshakeBuffer === null
      ? received
      : Buffer.concat([this.handshakeBuffer, received]);
    const headerEnd = response.indexOf("\r\n\r\n");
    if (headerEnd === -1) {
      if (response.length > 16 * 1024) this.fail("handshake response too large");
      else this.handshakeBuffer = response;
      return;
    }
    this.handshakeBuffer = null;
    const lines = response.toString("latin1", 0, headerEnd).split("\r\n");
    if (!/^HTTP\/1\.1 101\b/.test(lines[0])) {
      this.fail(`handshake rejected: ${lines[0]}`);
      return;
    }
    this.deflate = lines.some((line) =>
      /^sec-websocket-extensions:\s*permessage-deflate/i.test(line)
    );
    const acceptLine = lines.find((line) => /^sec-websocket-accept:/i.test(line));
    const accept = acceptLine?.slice(acceptLine.indexOf(":") + 1).trim();
    if (accept !== this.expectedAccept) {
      this.fail(`bad Sec-WebSocket-Accept: ${accept ?? "missing"}`);
      return;
    }
    this.open = true;
    this.socket!.setTimeout(0);
    this.resolveOpen!(true);
    this.resolveOpen = null;
    // Frames may arrive in the same read as the handshake response.
    if (response.length > headerEnd + 4) {
      this.parseFrames(response, headerEnd + 4, response.length);
    }
  }

  private parseFrames(chunk: Buffer, start: number, end: number): void {
    let position = start;
    while (position < end && !this.failed) {
      if (this.payloadRemaining > 0) {
        const take = Math.min(this.payloadRemaining, end - position);
        if (this.controlPayload !== null) {
          chunk.copy(this.controlPayload, this.controlPayloadLength, position, position + take);
          this.controlPayloadLength += take;
        }
        position += take;
        this.payloadRemaining -= take;
        if (this.payloadRemaining === 0) this.finishFrame();
        continue;
      }
      if (this.partialHeaderLength === 0) {
        const headerLength = this.parseHeader(chunk, position, end);
        if (headerLength > 0) {
          position += headerLength;
          continue;
        }
        if (headerLength < 0) return;
        this.partialHeaderLength = chunk.copy(this.partialHeader, 0, position, end);
        return;
      }
      // Complete the split header from this chunk (a header is at most 14 bytes).
      const alreadyBuffered = this.partialHeaderLength;
      const copied = chunk.copy(this.partialHeader, alreadyBuffered, position, end);
      const headerLength = this.parseHeader(this.partialHeader, 0, alreadyBuffered + copied);
      if (headerLength < 0) return;
      if (headerLength === 0) {
        this.partialHeaderLength += copied;
        return;
      }
      this.partialHeaderLength = 0;
      position += headerLength - alreadyBuffered;
    }
  }

  /** Returns the header length, 0 if incomplete, -1 on a protocol error (connection failed). */
  private parseHeader(buffer: Buffer, start: number, end: number): number {
    if (end - start < 2) return 0;
    const first = buffer[start];
    const second = buffer[start + 1];
    if ((first & (this.deflate ? 0x30 : 0x70)) !== 0) {
      this.fail("protocol error: RSV bits set without a negotiated extension");
      return -1;
    }
    const masked = (second & 0x80) !== 0;
    const shortLength = second & 0x7f;
    const lengthBytes = shortLength === 126 ? 2 : shortLength === 127 ? 8 : 0;
    const headerLength = 2 + lengthBytes + (masked ? 4 : 0);
    if (end - start < headerLength) return 0;
    let payloadLength = shortLength;
    if (lengthBytes === 2) {
      payloadLength = buffer.readUInt16BE(start + 2);
    } else if (lengthBytes === 8) {
      payloadLength = buffer.readUInt32BE(start + 2) * 2 ** 32 + buffer.readUInt32BE(start + 6);
    }
    this.frameFin = (first & 0x80) !== 0;
    this.frameOpcode = first & 0x0f;
    if (this.frameOpcode >= 0x8) {
      if (payloadLength > 125 || !this.frameFin) {
        this.fail("protocol error: invalid control frame");
        return -1;
      }
      this.controlPayload = this.frameOpcode === OPCODE_PING ? Buffer.alloc(payloadLength) : null;
      this.controlPayloadLength = 0;
    }
    this.payloadRemaining = payloadLength;
    if (payloadLength === 0) this.finishFrame();
    return headerLength;
  }

  private finishFrame(): void {
    const opcode = this.frameOpcode;
    if (opcode === OPCODE_CLOSE) {
      this.fail("server sent a Close frame");
    } else if (opcode === OPCODE_PING) {
      // Answer so servers with a heartbeat keep idle connections open.
      this.send(encodeClientFrame(OPCODE_PONG, this.controlPayload!));
      this.controlPayload = null;
    } else if (opcode === OPCODE_PONG) {
      // Unsolicited pong: nothing to do.
    } else if (opcode <= 0x2) {
      if (this.frameFin) {
        this.messagesReceived++;
        this.onMessage(this);
      }
    } else {
      this.fail(`protocol error: unknown opcode ${opcode}`);
    }
  }
}

/** Opens `count` connections with at most `concurrency` handshakes in flight. */
async function openConnections(
  options: Options,
  onFailure: (connection: WsConnection, reason: string) => void,
): Promise<WsConnection[]> {
  const connections: WsConnection[] = [];
  for (let i = 0; i < options.connections; i++) {
    const connection = new WsConnection(i);
    connection.onFailure = onFailure;
    connections.push(connection);
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < connections.length) {
      await connections[next++].connect(options.url, options.localAddress, options.deflate);
    }
  };
  const workerCount = Math.min(options.openConcurrency, connections.length);
  await Promise.all(Array.from({ length: workerCount }, worker));
  return connections.filter((connection) => connection.open);
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n${USAGE}`);
    return 1;
  }
  const { mode, inflight } = options;

  let errors = 0;
  const reportedReasons = new Map<string, number>();
  // Errors are counted individually but each distinct reason is printed only once.
  const onFailure = (connection: WsConnection, reason: string): void => {
    errors++;
    const seen = reportedReasons.get(reason) ?? 0;
    reportedReasons.set(reason, seen + 1);
    if (seen === 0) console.error(`connection ${connection.index}: ${reason}`);
    onConnectionLost(connection);
  };
  let onConnectionLost: (connection: WsConnection) => void = () => {};

  if (mode === "handshake") return await handshakes(options);

  const openStarted = performance.now();
  const openCpuStart = process.cpuUsage();
  const connections = await openConnections(options, onFailure);
  // `--sender-url`: the sender is one more connection, not among the receivers.
  let separateSender: WsConnection | null = null;
  if (options.senderUrl !== null && connections.length > 0) {
    const sender = new WsConnection(-1);
    sender.onFailure = onFailure;
    if (await sender.connect(options.senderUrl)) separateSender = sender;
  }
  const openMs = performance.now() - openStarted;
  const openCpu = cpuFraction(process.cpuUsage(openCpuStart), openMs);
  if (connections.length < options.connections) {
    console.error(`opened ${connections.length} of ${options.connections} connections`);
  }

  const closeFrame = encodeClientFrame(OPCODE_CLOSE, Buffer.from([0x03, 0xe8])); // 1000 normal
  const closeAll = async (): Promise<void> => {
    const grace = new Promise((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref());
    const all = separateSender ? [...connections, separateSender] : connections;
    await Promise.race([grace, Promise.all(all.map((c) => c.close(closeFrame)))]);
  };
  const result = {
    mode,
    url: options.url.href,
    sender_url: options.senderUrl?.href ?? null,
    connections: options.connections,
    inflight: mode === "idle" ? null : inflight,
    size: mode === "idle" ? null : options.size,
    replies: mode === "echo" ? options.replies : mode === "broadcast" ? 1 : null,
    duration_s: 0,
    completed: 0,
    throughput: 0,
    p50_ms: null as number | null,
    p99_ms: null as number | null,
    errors: 0,
    client_cpu: 0,
    client_bound: false,
    open_ms: round(openMs, 1),
    /** `--deflate 1`: bytes read per reply, and how many connections negotiated compression. */
    wire_bytes_per_reply: null as number | null,
    deflate: null as number | null,
  };
  const emit = (clientCpu: number): void => {
    result.errors = errors;
    result.client_cpu = round(clientCpu, 3);
    result.client_bound = clientCpu > 0.9;
    if (result.client_bound && connections.length > 0) {
      console.error(
        mode === "idle"
          ? `warning: client used ${result.client_cpu} of a core while opening: open_ms may ` +
            "reflect the client rather than the server"
          : `warning: client used ${result.client_cpu} of a core: the client is the ` +
            "bottleneck and the numbers understate the server",
      );
    }
    process.stdout.write(JSON.stringify(result) + "\n");
  };

  if (connections.length === 0 || (options.senderUrl !== null && separateSender === null)) {
    if (connections.length > 0) console.error(`could not open the sender at ${options.senderUrl}`);
    emit(openCpu);
    await closeAll();
    return 1;
  }

  if (mode === "idle") {
    emit(openCpu);
    await waitForShutdownRequest();
    await closeAll();
    return 0;
  }

  const payload = options.deflate ? jsonPayload(options.size) : Buffer.alloc(options.size, "x");
  const message = encodeClientFrame(0x1, payload);
  const compressedMessage = options.deflate
    ? encodeClientFrame(0x1, deflatePayload(payload), true)
    : message;
  const messageFor = (connection: WsConnection) => connection.deflate ? compressedMessage : message;
  const latencies = new LatencyRecorder();
  let running = true;
  let measuring = false;
  let completed = 0;

  if (mode === "echo") {
    const { replies } = options;
    // Per connection: a ring of the send times of its `inflight` outstanding messages, which
    // stays full because each completion immediately sends a replacement.
    const sendTimes = new Float64Array(connections.length * inflight);
    const oldestSlot = new Uint32Array(connections.length);
    const repliesForOldest = new Uint32Array(connections.length);
    const onEchoMessage = (connection: WsConnection): void => {
      const i = connection.index;
      if (++repliesForOldest[i] < replies) return;
      repliesForOldest[i] = 0;
      const slot = i * inflight + oldestSlot[i];
      const now = performance.now();
      if (measuring) {
        latencies.record(now - sendTimes[slot]);
        completed++;
      }
      if (!running) return;
      sendTimes[slot] = now;
      oldestSlot[i] = oldestSlot[i] + 1 === inflight ? 0 : oldestSlot[i] + 1;
      connection.send(messageFor(connection));
    };
    // Failed handshakes leave gaps in the indexes; renumber the open connections densely.
    connections.forEach((connection, i) => {
      connection.index = i;
      connection.onMessage = onEchoMessage;
    });
    const start = performance.now();
    for (let i = 0; i < connections.length; i++) {
      for (let k = 0; k < inflight; k++) {
        sendTimes[i * inflight + k] = start;
        connections[i].send(messageFor(connections[i]));
      }
    }
  } else {
    // Broadcast: message k is complete once every receiver got it. Each receiver gets messages
    // in order, so its k-th message is message k; count deliveries per in-flight slot.
    const sender = separateSender ?? connections[0];
    if (separateSender !== null && !await probe(separateSender, connections, message)) {
      errors++;
      emit(0);
      await closeAll();
      return 1;
    }
    let receivers = connections.length;
    const sendTimes = new Float64Array(inflight);
    const deliveries = new Uint32Array(inflight);
    let sent = 0;
    let nextToComplete = 0;
    const sendNext = (now: number): void => {
      sendTimes[sent % inflight] = now;
      sent++;
      sender.send(message);
    };
    const completeReady = (): void => {
      while (nextToComplete < sent && deliveries[nextToComplete % inflight] >= receivers) {
        const slot = nextToComplete % inflight;
        const now = performance.now();
        if (measuring) {
          latencies.record(now - sendTimes[slot]);
          completed++;
        }
        deliveries[slot] = 0;
        nextToComplete++;
        if (running && !sender.failed) sendNext(now);
      }
    };
    for (const connection of connections) {
      connection.onMessage = (receiver) => {
        const slot = (receiver.messagesReceived - 1) % inflight;
        if (++deliveries[slot] >= receivers) completeReady();
      };
    }
    onConnectionLost = (connection) => {
      if (connection === sender) console.error("the broadcast sender failed: no more messages");
      if (connection !== separateSender) receivers--;
      completeReady();
    };
    const start = performance.now();
    for (let k = 0; k < inflight; k++) sendNext(start);
  }

  const { cpu, measuredMs } = await measureWindow(options, latencies, (on) => {
    measuring = on;
    countingBytes = on;
    if (on) completed = 0;
    else running = false;
  }, () => completed);
  if (options.deflate && mode === "echo") {
    result.wire_bytes_per_reply = round(bytesReceived / (completed * options.replies), 1);
    result.deflate = connections.filter((connection) => connection.deflate).length;
  }

  const measuredSeconds = measuredMs / 1000;
  const [p50, p99] = latencies.percentiles([0.5, 0.99]);
  result.duration_s = round(measuredSeconds, 3);
  result.completed = completed;
  const deliveredPerMessage = mode === "broadcast" ? connections.length : 1;
  result.throughput = round((completed * deliveredPerMessage) / measuredSeconds, 1);
  result.p50_ms = p50 === null ? null : round(p50, 3);
  result.p99_ms = p99 === null ? null : round(p99, 3);
  if (completed === 0) {
    // Typically a server that breaks the protocol, e.g. a broadcast that skips the sender.
    console.error(`warning: no message completed in ${result.duration_s} s`);
  }
  emit(cpuFraction(cpu, measuredMs));
  await closeAll();
  return 0;
}

/**
 * How much longer a window stays open while nothing has completed in it: on a loaded machine
 * one handshake cycle can outlast a short window (a quick run's 1 s measured 0 handshakes on a
 * server pinned to a CPU that another process kept busy), and an empty window measures nothing.
 */
const EMPTY_WINDOW_GRACE_MS = 10_000;

/**
 * Waits out the warm-up, then measures for `--duration`, or until the first operation has
 * completed if that is later (see {@link EMPTY_WINDOW_GRACE_MS}): `measuring(true)` at the
 * window's start (latencies are reset then), `measuring(false)` at its end. Returns the window
 * and its CPU.
 */
async function measureWindow(
  options: Options,
  latencies: LatencyRecorder,
  measuring: (on: boolean) => void,
  completed: () => number,
): Promise<{ cpu: NodeJS.CpuUsage; measuredMs: number }> {
  await sleep(options.warmup * 1000);
  latencies.reset();
  measuring(true);
  const measureStart = performance.now();
  const cpuStart = process.cpuUsage();
  await sleep(options.duration * 1000);
  const graceEnd = performance.now() + EMPTY_WINDOW_GRACE_MS;
  while (completed() === 0 && performance.now() < graceEnd) await sleep(50);
  const cpu = process.cpuUsage(cpuStart);
  const measuredMs = performance.now() - measureStart;
  measuring(false);
  return { cpu, measuredMs };
}

/** Handshake mode (see the top of this file); prints the same JSON line as the other modes. */
async function handshakes(options: Options): Promise<number> {
  const message = encodeClientFrame(0x1, Buffer.alloc(options.size, "x"));
  const closeFrame = encodeClientFrame(OPCODE_CLOSE, Buffer.from([0x03, 0xe8]));
  const latencies = new LatencyRecorder();
  let running = true;
  let measuring = false;
  let completed = 0;
  let errors = 0;
  const reasons = new Set<string>();
  const cycle = async (): Promise<void> => {
    const connection = new WsConnection(0);
    const started = performance.now();
    // Settles at the last reply, or at a failure (which the connection reports only once).
    let failure = "";
    const done = new Promise<void>((resolve) => {
      connection.onMessage = (open) => {
        if (open.messagesReceived >= options.replies) resolve();
      };
      connection.onFailure = (_failed, reason) => {
        failure = reason;
        resolve();
      };
    });
    if (await connection.connect(options.url)) {
      connection.send(message);
      await done;
    } else {
      await done;
    }
    await connection.close(closeFrame);
    if (failure) {
      errors++;
      if (!reasons.has(failure)) console.error(`handshake cycle: ${failure}`);
      reasons.add(failure);
      await sleep(10); // A refusing server must not turn this loop into a busy one.
      return;
    }
    if (measuring) {
      latencies.record(performance.now() - started);
      completed++;
    }
  };
  const loops = Array.from({ length: options.connections }, async () => {
    while (running) await cycle();
  });
  const { cpu, measuredMs } = await measureWindow(options, latencies, (on) => {
    measuring = on;
    if (!on) running = false;
  }, () => completed);
  await Promise.race([Promise.all(loops), sleep(HANDSHAKE_TIMEOUT_MS)]);
  const clientCpu = cpuFraction(cpu, measuredMs);
  const [p50, p99] = latencies.percentiles([0.5, 0.99]);
  process.stdout.write(
    JSON.stringify({
      mode: options.mode,
      url: options.url.href,
      sender_url: null,
      connections: options.connections,
      inflight: 1,
      size: options.size,
      replies: options.replies,
      duration_s: round(measuredMs / 1000, 3),
      completed,
      throughput: round(completed / (measuredMs / 1000), 1),
      p50_ms: p50 === null ? null : round(p50, 3),
      p99_ms: p99 === null ? null : round(p99, 3),
      errors,
      client_cpu: round(clientCpu, 3),
      client_bound: clientCpu > 0.9,
      open_ms: null,
    }) + "\n",
  );
  return completed > 0 ? 0 : 1;
}

/**
 * `--sender-url`: sends one message at a time until every receiver got one (earlier ones may be
 * lost while the receivers' server subscribes), waits for stragglers, then zeroes the receivers'
 * counts so the pipeline's message k is each receiver's k-th message. False on timeout.
 */
async function probe(
  sender: WsConnection,
  receivers: WsConnection[],
  message: Buffer,
): Promise<boolean> {
  const reached = () => receivers.every((r) => r.failed || r.messagesReceived > 0);
  const deadline = performance.now() + PROBE_TIMEOUT_MS;
  let probes = 0;
  while (!reached()) {
    if (performance.now() > deadline || sender.failed) {
      console.error(`no probe reached every receiver in ${PROBE_TIMEOUT_MS} ms (${probes} sent)`);
      return false;
    }
    sender.send(message);
    probes++;
    const waitUntil = performance.now() + PROBE_INTERVAL_MS;
    while (!reached() && performance.now() < waitUntil) await sleep(5);
  }
  await sleep(PROBE_SETTLE_MS);
  for (const receiver of receivers) receiver.messagesReceived = 0;
  if (probes > 1) console.error(`${probes} probes sent before messages reached the receivers`);
  return true;
}

function cpuFraction(usage: NodeJS.CpuUsage, wallMs: number): number {
  return wallMs > 0 ? (usage.user + usage.system) / 1000 / wallMs : 0;
}

function round(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  return Math.round(value * scale) / scale;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Idle mode holds its connections until SIGTERM/SIGINT or the end of stdin. stdin is watched only
 * when it is a pipe, socket or terminal: /dev/null or a file would "end" at once.
 */
function waitForShutdownRequest(): Promise<void> {
  return new Promise((resolve) => {
    process.once("SIGTERM", () => resolve());
    process.once("SIGINT", () => resolve());
    const stdin = fstatSync(0);
    if (stdin.isFIFO() || stdin.isSocket() || process.stdin.isTTY) {
      process.stdin.on("end", () => resolve());
      process.stdin.resume();
    }
  });
}

process.exit(await main());
