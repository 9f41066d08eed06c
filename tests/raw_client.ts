/**
 * A raw-socket WebSocket client for tests: it sends what normal clients will not (fragments,
 * bad frames, no Close reply) and reports every frame and the TCP close it receives.
 */

import { connect as tcpConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { CloseFrame, concatBytes, decodeFrame, type Frame } from "../src/core/frame.ts";

/** A handshake's answer. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One raw connection. */
export class RawClient {
  readonly socket: Socket;
  #buffer: Uint8Array = new Uint8Array(0);
  #frames: Frame[] = [];
  #wake: (() => void) | undefined;
  #ended = false;
  /** Resolves when the server has closed TCP (FIN or reset). */
  readonly ended: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.ended = new Promise((resolve) => {
      const end = () => {
        this.#ended = true;
        this.#wake?.();
        resolve();
      };
      socket.on("end", end);
      socket.on("close", end);
      socket.on("error", end);
    });
  }

  /** Opens TCP to `port` on 127.0.0.1; with `ca`, TLS trusting that PEM certificate. */
  static open(port: number, ca?: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket: Socket = ca
        ? tlsConnect({ port, host: "127.0.0.1", ca }, () => resolve(new RawClient(socket)))
        : tcpConnect(port, "127.0.0.1", () => resolve(new RawClient(socket)));
      socket.once("error", reject);
    });
  }

  /**
   * Opens a connection and sends an upgrade request for `path` with `headers` on top of the
   * valid ones (a header set to "" is left out). Resolves with the answer's head; on 101 the
   * client then reads frames.
   */
  static async upgrade(
    port: number,
    path: string,
    headers: Record<string, string> = {},
    ca?: string,
  ): Promise<{ client: RawClient; answer: HttpAnswer }> {
    const client = await RawClient.open(port, ca);
    const all: Record<string, string> = {
      Host: `127.0.0.1:${port}`,
      Upgrade: "websocket",
      Connection: "Upgrade",
      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version": "13",
      ...headers,
    };
    const lines = [`GET ${path} HTTP/1.1`];
    for (const [name, value] of Object.entries(all)) {
      if (value !== "") lines.push(`${name}: ${value}`);
    }
    client.socket.write(lines.join("\r\n") + "\r\n\r\n");
    const answer = await client.#readHead();
    return { client, answer };
  }

  async #readHead(): Promise<HttpAnswer> {
    const data: Uint8Array[] = [];
    let text = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no HTTP answer: ${text}`)), 5000);
      const onData = (chunk: Uint8Array) => {
        data.push(chunk);
        text = new TextDecoder("latin1").decode(concatBytes(data));
        const headEnd = text.indexOf("\r\n\r\n");
        if (headEnd < 0) return;
        const head = text.slice(0, headEnd);
        const length = /content-length:\s*(\d+)/i.exec(head);
        const is101 = head.startsWith("HTTP/1.1 101");
        if (!is101 && length && text.length < headEnd + 4 + Number(length[1])) return;
        clearTimeout(timer);
        this.socket.off("data", onData);
        this.socket.off("end", onEnd);
        if (is101) this.#startFrames(concatBytes(data).subarray(headEnd + 4));
        resolve();
      };
      const onEnd = () => {
        clearTimeout(timer);
        resolve();
      };
      this.socket.on("data", onData);
      this.socket.on("end", onEnd);
    });
    const headEnd = text.indexOf("\r\n\r\n");
    const [statusLine, ...headerLines] = text.slice(0, headEnd < 0 ? text.length : headEnd)
      .split("\r\n");
    const headers: Record<string, string> = {};
    for (const line of headerLines) {
      const colon = line.indexOf(":");
      if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    return {
      status: Number(statusLine.split(" ")[1] ?? 0),
      headers,
      body: headEnd < 0 ? "" : text.slice(headEnd + 4),
    };
  }

  #startFrames(rest: Uint8Array): void {
    this.#take(rest);
    this.socket.on("data", (chunk: Uint8Array) => this.#take(chunk));
  }

  #take(chunk: Uint8Array): void {
    this.#buffer = concatBytes([this.#buffer, chunk]);
    let offset = 0;
    for (
      let decoded = decodeFrame(this.#buffer);
      decoded;
      decoded = decodeFrame(this.#buffer, offset)
    ) {
      this.#frames.push(decoded.frame);
      offset += decoded.length;
    }
    this.#buffer = this.#buffer.slice(offset);
    this.#wake?.();
  }

  /**
   * Sends a GET for `path`, with `headers` lines (e.g. "Accept-Encoding: gzip"; a Host line
   * replaces the default one) on top, and
   * resolves with the answer (the connection is then closed).
   */
  static async get(
    port: number,
    path: string,
    ca?: string,
    headers: string[] = [],
  ): Promise<HttpAnswer> {
    const client = await RawClient.open(port, ca);
    const host = headers.some((line) => /^host:/i.test(line)) ? [] : ["Host: 127.0.0.1"];
    const lines = [`GET ${path} HTTP/1.1`, ...host, "Connection: close", ...headers];
    client.socket.write(`${lines.join("\r\n")}\r\n\r\n`);
    const answer = await client.#readHead();
    client.destroy();
    return answer;
  }

  /** Sends raw bytes. */
  write(bytes: Uint8Array | string): void {
    this.socket.write(bytes);
  }

  /** The next frame; undefined if TCP closed first or nothing came within `ms`. */
  async nextFrame(ms = 5000): Promise<Frame | undefined> {
    const deadline = Date.now() + ms;
    while (this.#frames.length === 0 && !this.#ended && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    return this.#frames.shift();
  }

  /**
   * How the server ended the connection: the code of its Close frame (frames before it are
   * skipped), or undefined if TCP closed with no Close frame or nothing came within `ms`.
   */
  async closeCode(ms = 5000): Promise<number | undefined> {
    const deadline = Date.now() + ms;
    for (;;) {
      const frame = await this.nextFrame(Math.max(0, deadline - Date.now()));
      if (!frame) return undefined;
      if (frame instanceof CloseFrame) return frame.code;
    }
  }

  /**
   * The data frames the server sends until it closes TCP or sends a Close frame (which ends
   * the list); rejects after `ms`, saying how many had come.
   */
  async dataFramesUntilClose(ms: number): Promise<Frame[]> {
    const frames: Frame[] = [];
    const deadline = Date.now() + ms;
    for (;;) {
      const frame = await this.nextFrame(Math.max(0, deadline - Date.now()));
      if (frame instanceof CloseFrame) return frames;
      if (frame) {
        frames.push(frame);
        continue;
      }
      if (this.#ended) return frames;
      throw new Error(`no close within ${ms} ms; ${frames.length} data frames had come`);
    }
  }

  /** Reads at most `bytesPerSecond`, as a peer on a slow link: the server's writes back up. */
  throttle(bytesPerSecond: number): void {
    const tickMs = 50;
    const perTick = bytesPerSecond * tickMs / 1000;
    let budget = 0;
    const socket = this.socket;
    socket.pause();
    const timer = setInterval(() => {
      budget = Math.min(budget + perTick, perTick);
      if (budget > 0) socket.resume();
    }, tickMs);
    socket.on("data", (chunk: Uint8Array) => {
      budget -= chunk.byteLength;
      if (budget <= 0) socket.pause();
    });
    void this.ended.then(() => clearInterval(timer));
  }

  /**
   * Reads and throws away all that comes from now on, as a peer that keeps up with any rate:
   * a flood of small frames costs it one callback per read, where a WebSocket client pays one
   * per frame and, on Deno, runs them without letting its timers or other sockets in.
   */
  discardFrames(): void {
    this.socket.removeAllListeners("data");
    this.socket.on("data", () => {});
    this.#buffer = new Uint8Array(0);
    this.#frames = [];
  }

  /** Stops reading, as a peer that never reads: the server's writes back up. */
  stopReading(): void {
    this.socket.pause();
  }

  /** Closes TCP from this side without a Close frame. */
  destroy(): void {
    this.socket.destroy();
  }
}
