/**
 * A socket-free stand-in for a runtime adapter: {@link FakeLink} records every call the core
 * makes on its {@link WebSocketLink}, and {@link createConnection} builds a
 * {@link WebSocketConnection} around one with chosen capabilities and settings.
 *
 * @module
 */

import { bunAdapter } from "../../src/adapters/bun.ts";
import { denoAdapter } from "../../src/adapters/deno.ts";
import { nodeAdapter } from "../../src/adapters/node.ts";
import { WebSocketConnection } from "../../src/core/connection.ts";
import type { Clock, TimerHandle } from "../../src/core/clock.ts";
import { type ConnectionContext, connectionContext } from "../../src/core/context.ts";
import type { RuntimeCapabilities, WebSocketLink } from "../../src/core/link.ts";
import { Observer } from "../../src/core/observer.ts";
import { DEFAULT_SETTINGS, mergeSettings, type Settings } from "../../src/core/settings.ts";

/** One call the core made on the link, in the order it made them. */
export type LinkCall =
  | { type: "send"; data: string | Uint8Array; fin: boolean }
  | { type: "ping"; data: Uint8Array }
  | { type: "pong"; data: Uint8Array }
  | { type: "close"; code: number; reason: string }
  | { type: "end" }
  | { type: "terminate" }
  | { type: "pause" }
  | { type: "resume" }
  | { type: "requestDrain" };

/** The kinds of {@link LinkCall}. */
export type LinkCallType = LinkCall["type"];

/** A {@link WebSocketLink} that does nothing but record what it was asked to do. */
export class FakeLink implements WebSocketLink {
  /** Every call, oldest first. */
  readonly calls: LinkCall[] = [];
  /** What the core reads as the runtime's write buffer; tests set it. */
  bufferedAmount = 0;
  /**
   * Runs inside `close()`, after it is recorded: set it to report the close from inside the
   * call, as Bun does.
   */
  onClose: ((code: number, reason: string) => void) | undefined;

  send(data: string | Uint8Array, fin: boolean): void {
    this.calls.push({ type: "send", data, fin });
  }

  ping(data: Uint8Array): void {
    this.calls.push({ type: "ping", data });
  }

  pong(data: Uint8Array): void {
    this.calls.push({ type: "pong", data });
  }

  close(code: number, reason: string): void {
    this.calls.push({ type: "close", code, reason });
    this.onClose?.(code, reason);
  }

  end(): void {
    this.calls.push({ type: "end" });
  }

  terminate(): void {
    this.calls.push({ type: "terminate" });
  }

  requestDrain(): void {
    this.calls.push({ type: "requestDrain" });
  }

  /** How many times the core corked the link (not in {@link calls}). */
  corks = 0;
  /** For each `flush()`, how many sends had been made by then (not in {@link calls}). */
  readonly flushedAt: number[] = [];

  /** Whether cork() holds; false: as Bun does while it reads from the socket. */
  holds = true;

  cork(): boolean {
    this.corks++;
    return this.holds;
  }

  flush(): void {
    this.flushedAt.push(this.sent.length);
  }

  pause(): void {
    this.calls.push({ type: "pause" });
  }

  resume(): void {
    this.calls.push({ type: "resume" });
  }

  /** The `send()` calls as `[data, fin]` pairs. */
  get sent(): [string | Uint8Array, boolean][] {
    const sent: [string | Uint8Array, boolean][] = [];
    for (const call of this.calls) if (call.type === "send") sent.push([call.data, call.fin]);
    return sent;
  }

  /** The `close()` calls as `[code, reason]` pairs. */
  get closes(): [number, string][] {
    const closes: [number, string][] = [];
    for (const call of this.calls) if (call.type === "close") closes.push([call.code, call.reason]);
    return closes;
  }

  /** How many calls of one type were made. */
  count(type: LinkCallType): number {
    return this.calls.filter((call) => call.type === type).length;
  }

  /** The types of all calls, oldest first. */
  get types(): LinkCallType[] {
    return this.calls.map((call) => call.type);
  }
}

/** The real adapters' capabilities: the fakes behave as the runtimes say they do. */
export const NODE_LIKE: RuntimeCapabilities = nodeAdapter.capabilities;
export const DENO_LIKE: RuntimeCapabilities = denoAdapter.capabilities;
export const BUN_LIKE: RuntimeCapabilities = bunAdapter.capabilities;

/**
 * Timers that fire only when a test moves time on with {@link FakeClock.advance}: close and
 * idle timeouts pass at once, and a test says exactly how much time has gone by.
 */
export class FakeClock implements Clock {
  /** Milliseconds since the clock was made. */
  now = 0;
  #nextId = 1;
  readonly #timers = new Map<number, { at: number; every: number; callback: () => void }>();

  setTimeout(callback: () => void, ms: number): TimerHandle {
    return this.#add(callback, ms, 0);
  }

  setInterval(callback: () => void, ms: number): TimerHandle {
    return this.#add(callback, ms, ms);
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }

  clearInterval(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }

  /** How many timers are armed. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time on by `ms`, firing every timer that falls due, in the order they fall due. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let due: [number, { at: number; every: number; callback: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= end && (!due || entry[1].at < due[1].at)) due = entry;
      }
      if (!due) break;
      const [id, timer] = due;
      this.now = timer.at;
      if (timer.every > 0) timer.at += timer.every;
      else this.#timers.delete(id);
      timer.callback();
    }
    this.now = end;
  }

  #add(callback: () => void, ms: number, every: number): number {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.now + Math.max(ms, 1), every, callback });
    return id;
  }
}

/** What {@link createConnection} builds. */
export interface Harness {
  connection: WebSocketConnection;
  link: FakeLink;
  /** The connection's clock: nothing times out until a test advances it. */
  clock: FakeClock;
  /** Every `onClosed` call's argument, in order. */
  closed: WebSocketConnection[];
}

/** Options for {@link createConnection}. */
export interface HarnessOptions {
  /** Default {@link NODE_LIKE}. */
  capabilities?: RuntimeCapabilities;
  /** Merged into `DEFAULT_SETTINGS`. */
  settings?: Settings;
  /** Default 7. */
  fd?: number;
  /** Whether to call `receiveOpen(link)` (default true). */
  open?: boolean;
  /** Shared by connections made for one test (default a new one). */
  context?: ConnectionContext;
}

/** A context over a {@link FakeClock}, for connections that share one. */
export function fakeContext(
  capabilities: RuntimeCapabilities = NODE_LIKE,
  settings: Settings = {},
): ConnectionContext & { clock: FakeClock } {
  const clock = new FakeClock();
  const merged = mergeSettings(DEFAULT_SETTINGS, settings);
  return { ...connectionContext(capabilities, merged, new Observer(), clock), clock };
}

/** A connection over a {@link FakeLink}, open unless `options.open` is false. */
export function createConnection(options: HarnessOptions = {}): Harness {
  const closed: WebSocketConnection[] = [];
  const context = options.context ??
    // No idle checks unless a test asks for them: they would fire as a test advances the clock.
    fakeContext(options.capabilities ?? NODE_LIKE, {
      websocket_idle_timeout: 0,
      ...options.settings,
    });
  const connection = new WebSocketConnection(
    options.fd ?? 7,
    context,
    (closedConnection) => closed.push(closedConnection),
  );
  const link = new FakeLink();
  if (options.open ?? true) connection.receiveOpen(link);
  return { connection, link, clock: context.clock as FakeClock, closed };
}

/** What {@link peek} returns for a promise that has not settled. */
export const PENDING: unique symbol = Symbol("pending");

/**
 * The promise's value if it settles within `ms` milliseconds (after pending microtasks and
 * immediates have run), else {@link PENDING}.
 */
export function peek<T>(promise: Promise<T>, ms = 5): Promise<T | typeof PENDING> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const later = new Promise<typeof PENDING>((resolve) => {
    timer = setTimeout(() => resolve(PENDING), ms);
  });
  return Promise.race([promise, later]).finally(() => clearTimeout(timer));
}

/** Waits `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
