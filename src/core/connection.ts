/**
 * The runtime-free heart of a WebSocket connection: its state machine, the bounded inbound
 * queue behind `recv()`, ordered and flow-controlled `push()`, and the close rules. Adapters
 * drive it through {@link WebSocketEvents}; it acts on the socket through
 * {@link WebSocketLink}, and reads {@link RuntimeCapabilities} to pick one behaviour for every
 * runtime.
 *
 * @module
 */

import { CLOSE, ERROR, FLAG, OPCODE, type Opcode } from "./constants.ts";
import { Observer, type Traffic } from "./observer.ts";
import { ConcurrencyError, setLastError } from "./errors.ts";
import { currentTurn, nextTurn, trueNextTurn, TURN_BUDGET } from "./fairness.ts";
import { CloseFrame, encodeClosePayload, Frame, type FrameData, toBytes } from "./frame.ts";
import type { RuntimeCapabilities, WebSocketEvents, WebSocketLink } from "./link.ts";
import { MAX_TIMER_SECONDS, type ResolvedSettings } from "./settings.ts";
import {
  approximateSize,
  asPayload,
  byteLength,
  joinPayloads,
  type PushData,
  type RecvResult,
  utf8Length,
} from "./payload.ts";

export type { PushData, RecvResult } from "./payload.ts";

/**
 * Who ended a connection: `"peer"` (its Close, or it dropped the connection), `"self"` (this
 * side's `close()` or `disconnect()`, a handler that returned, a shutdown), `"rule"` (the peer
 * broke a rule and was closed for it: 1009, 1008, 1007, 1002), `"timeout"` (silent past
 * `websocket_idle_timeout`, or a handshake that never completed).
 *
 * @example
 * ```ts
 * import type { ClosedBy } from "../../mod.ts";
 * const retry = (closedBy: ClosedBy | undefined) => closedBy === "peer" || closedBy === "timeout";
 * ```
 */
export type ClosedBy = "peer" | "self" | "rule" | "timeout";

type State = "connecting" | "open" | "closing" | "closed";

/** What settles a waiting `recv()` or iterator `next()`. */
type Waiter = (result: RecvResult | IteratorResult<Frame>) => void;

/** A data frame waiting for the socket's buffer to drain. */
interface Outgoing {
  data: FrameData;
  fin: boolean;
  compress: boolean;
  resolve: (sent: boolean) => void;
}

/** A message held back while another task's fragmented message is open. */
interface HeldBack extends Outgoing {
  text: boolean;
}

const TRUE = Promise.resolve(true);
/** The empty queue that connections share until they push to one; never pushed to itself. */
const NONE: never[] = [];
const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };
const NO_BYTES = new Uint8Array(0);

/** Cost counted for each queued message on top of its bytes, so tiny messages add up too. */
const MESSAGE_OVERHEAD = 64;

/**
 * The least cost the inbound queue may reach before it closes with 1008: a runtime that pauses
 * reading still delivers the rest of the read in progress (up to 64 KiB of frames, which may
 * be a thousand small messages), and that must not close a connection whose limits are low.
 */
const MIN_INBOUND_BOUND = 1024 * 1024;

/**
 * Messages shorter than this (bytes; UTF-16 units for text) go uncompressed even when pushed
 * with `FLAG.COMPRESS`. Without context takeover, deflate saves little below it: chat-like JSON
 * measured 0.92 of its size at 64 B and 0.80 at 128 B, against 0.46 at 256 B and 0.15 at 4 KiB,
 * and each compression costs CPU.
 */
const COMPRESSION_THRESHOLD = 128;

/**
 * How long a runtime that cannot report an abandoned handshake gets to open the socket once it
 * has the 101: the server writes it, so a client that stayed needs no round trip.
 */
const ABANDONED_HANDSHAKE_MS = 2000;

function worthCompressing(data: FrameData): boolean {
  return approximateSize(data) >= COMPRESSION_THRESHOLD;
}

/**
 * One upgraded connection, as seen by the core.
 */
export class WebSocketConnection implements WebSocketEvents {
  /** The connection number, copied into every frame's `fd`. */
  readonly fd: number;
  /** The code of this connection's last failure (one of `ERROR`). */
  errCode: number = ERROR.NONE;
  /** A message for `errCode`. */
  errMsg = "";

  #state: State = "connecting";
  #link: WebSocketLink | undefined;
  readonly #capabilities: RuntimeCapabilities;
  readonly #settings: ResolvedSettings;
  readonly #onClosed: (connection: WebSocketConnection) => void;
  readonly #observer: Observer;
  /** Settles whenReleased()'s promise. */
  #released: (() => void) | undefined;
  /** Settles whenOpen()'s promise; dropped once it has. */
  #resolveOpened: ((open: boolean) => void) | undefined;

  #inbound: Frame[] = [];
  #inboundCost = 0;
  #paused = false;
  /** The waiting recv()'s (or next()'s) resolve function, and its timeout. */
  #waiter: Waiter | undefined;
  #waiterTimer: ReturnType<typeof setTimeout> | undefined;
  /** Whether the waiter is an iterator's next(), which resolves with an IteratorResult. */
  #waiterIterates = false;

  // Queues that most connections never use share one empty array until their first push.
  #outbound: Outgoing[] = NONE;
  /** Pushes made while a fragmented message is open; they follow its last fragment. */
  #heldBack: HeldBack[] = NONE;
  /** Whether a fragmented message is open, and if so whether it is text. */
  #fragmentText: boolean | undefined;
  /** Whether the open fragmented message is compressed. */
  #fragmentCompress = false;
  /** Fragments gathered for runtimes that can only send whole messages. */
  #assembly: FrameData[] = NONE;

  /** At least what the runtime has buffered; see #belowWriteLimit(). Measure first. */
  #bufferedAtMost = Infinity;
  /** Bounds the opening handshake (see whenOpen()), then a close the core started. */
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Connections whose silence the core checks (where the runtime does not, see
   * `capabilities.idleTimeout`), by timeout: one timer per timeout, not one per connection.
   */
  static readonly #idleWatches = new Map<
    number,
    { connections: Set<WebSocketConnection>; timer: ReturnType<typeof setInterval> }
  >();
  /** The idle timeout this connection is watched under, if any. */
  #idleSeconds = 0;
  /** Whether the peer sent anything since the last idle check. */
  #heard = true;
  /** Whether the last idle check pinged the peer. */
  #pinged = false;
  /** The event-loop turn of the last immediate completion, and how many it has had. */
  #turn = -1;
  #completions = 0;
  #closedPromise: Promise<boolean> | undefined;
  #resolveClosed: ((closed: boolean) => void) | undefined;

  /**
   * @param fd the connection number
   * @param capabilities what the runtime can do
   * @param settings the server's settings
   * @param onClosed called once, when the connection has closed for any reason
   * @param observer what counts its traffic (and, with the access log on, keeps its own)
   */
  constructor(
    fd: number,
    capabilities: RuntimeCapabilities,
    settings: ResolvedSettings,
    onClosed: (connection: WebSocketConnection) => void,
    observer: Observer = new Observer(),
  ) {
    this.fd = fd;
    this.#capabilities = capabilities;
    this.#settings = settings;
    this.#onClosed = onClosed;
    this.#observer = observer;
    if (observer.accessLog) {
      this.traffic = { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 };
    }
  }

  /** Counted for the access log only (see `access_log`). */
  readonly traffic: Traffic | undefined;

  /**
   * How it closed: the peer's Close code, this side's, or 1006 when dropped without one; the
   * reason with it; and who ended it (see {@link ClosedBy}). Read once closed.
   */
  closeCode: number = CLOSE.ABNORMAL;
  closeReason = "";
  closedBy: ClosedBy | undefined;
  /** Whether the peer started the close: what the access log says. */
  get closedByPeer(): boolean {
    return this.closedBy === "peer";
  }
  /** When errCode was last set, to tell it from the endpoint's own (see `setLastError()`). */
  errSequence = 0;

  #count(data: FrameData, fin: boolean): void {
    const observer = this.#observer;
    const size = byteLength(data);
    if (fin) observer.messagesOut++;
    observer.bytesOut += size;
    const traffic = this.traffic;
    if (traffic) {
      if (fin) traffic.messagesOut++;
      traffic.bytesOut += size;
    }
  }

  /** Whether the connection is open for sending and receiving. */
  get isOpen(): boolean {
    return this.#state === "open";
  }

  /**
   * Resolves true once the runtime reports the socket open, false if it closed first or has not
   * opened after `websocket_close_timeout` seconds: Deno neither opens nor closes a handshake
   * whose client left while the 101 was on its way. Call it once, after the upgrade.
   */
  whenOpen(): Promise<boolean> {
    if (this.#state !== "connecting") return Promise.resolve(this.#state === "open");
    const closeTimeoutMs = this.#settings.websocket_close_timeout * 1000;
    const ms = this.#capabilities.reportsAbandonedHandshake
      ? closeTimeoutMs
      : Math.min(closeTimeoutMs, ABANDONED_HANDSHAKE_MS);
    this.#closeTimer = setTimeout(() => {
      this.#closeTimer = undefined;
      if (this.#state !== "connecting") return;
      this.closedBy = "timeout";
      this.#setError(ERROR.WEBSOCKET_HANDSHAKE_FAILED, "The handshake did not complete in time");
      this.#finish();
    }, ms);
    return new Promise((resolve) => this.#resolveOpened = resolve);
  }

  #settleOpened(open: boolean): void {
    const resolve = this.#resolveOpened;
    this.#resolveOpened = undefined;
    resolve?.(open);
  }

  /**
   * Resolves once the runtime has reported the socket closed, so what it had to write (a Close
   * frame among it) is out: a process that exits sooner cuts it off. At once without a socket.
   */
  whenReleased(): Promise<void> {
    if (!this.#link) return Promise.resolve();
    return new Promise((resolve) => this.#released = resolve);
  }

  // ---- events from the adapter ----

  receiveOpen(link: WebSocketLink): void {
    if (this.#state !== "connecting") {
      link.terminate(); // Closed by the handler (or given up on) before the runtime opened it.
      return;
    }
    this.#stopCloseTimer();
    this.#link = link;
    this.#state = "open";
    this.#settleOpened(true);
    const idleSeconds = this.#settings.websocket_idle_timeout;
    if (idleSeconds > 0 && !this.#capabilities.idleTimeout) this.#watchIdle(idleSeconds);
  }

  receiveMessage(data: string | Uint8Array): void {
    this.#heard = true;
    if (this.#state !== "open") return;
    const size = approximateSize(data);
    const limit = this.#settings.package_max_length;
    // UTF-8 takes at most 3 bytes per UTF-16 unit: count exactly only near the limit.
    if (size * 3 > limit && (typeof data === "string" ? utf8Length(data) : size) > limit) {
      // Runtimes without a native limit (Deno) or with a larger one deliver it; refuse it here.
      this.#fail(CLOSE.MESSAGE_TOO_BIG, "Message too big");
      return;
    }
    const observer = this.#observer;
    const bytes = typeof data === "string" ? utf8Length(data) : size;
    observer.messagesIn++;
    observer.bytesIn += bytes;
    const traffic = this.traffic;
    if (traffic) {
      traffic.messagesIn++;
      traffic.bytesIn += bytes;
    }
    this.#deliver(new Frame(data, typeof data === "string" ? OPCODE.TEXT : OPCODE.BINARY), size);
  }

  receivePing(data: Uint8Array): void {
    this.#heard = true;
    if (this.#state === "open" && this.#settings.open_websocket_ping_frame) {
      this.#deliver(new Frame(data, OPCODE.PING), data.byteLength);
    }
  }

  receivePong(data: Uint8Array): void {
    this.#heard = true;
    if (this.#state === "open" && this.#settings.open_websocket_pong_frame) {
      this.#deliver(new Frame(data, OPCODE.PONG), data.byteLength);
    }
  }

  receiveClose(code: number, reason: string): void {
    this.#link = undefined; // The runtime is done with the socket.
    this.#released?.();
    if (this.#state === "closed") {
      // The end of a close() (or Deno reporting one close twice): nothing left to bound.
      this.#stopCloseTimer();
      return;
    }
    const fromPeer = this.#state === "open";
    // Runtimes report an abnormal close as 0 (Deno) or 1006; make it 1006 everywhere.
    const normalised = code >= 1000 ? code : CLOSE.ABNORMAL;
    if (fromPeer) {
      this.closeCode = normalised;
      this.closeReason = reason;
      this.closedBy = "peer";
      if (normalised === CLOSE.ABNORMAL) {
        this.#setError(ERROR.CONNECTION_RESET, "The peer dropped the connection without a Close");
      }
    } else {
      this.closedBy ??= "peer"; // The handshake failed: the peer or the network ended it.
    }
    if (fromPeer && normalised !== CLOSE.ABNORMAL && this.#settings.open_websocket_close_frame) {
      const frame = new CloseFrame(normalised, reason, this.fd);
      this.#inbound.push(frame);
    }
    this.#finish();
  }

  receiveViolation(code: number): void {
    if (this.#state !== "open") return;
    // The runtime sent the Close: the close it reports next is not the peer's. A disconnect()
    // from now on waits for that close, as one during the server's own closing handshake does.
    this.#state = "closing";
    this.#closedPromise = new Promise((resolve) => this.#resolveClosed = resolve);
    this.closeCode = code;
    this.#setViolationError(code);
    this.#settleWaiter("");
    this.#failPushes();
  }

  receiveDrain(): void {
    const link = this.#link;
    if (!link || this.#state !== "open") return;
    const limit = this.#settings.websocket_write_limit;
    while (this.#outbound.length > 0 && link.bufferedAmount < limit) {
      const item = this.#outbound.shift()!;
      link.send(item.data, item.fin, item.compress);
      item.resolve(true);
    }
    this.#bufferedAtMost = limit; // Measure again at the next push.
    if (this.#outbound.length > 0) link.requestDrain();
  }

  // ---- the handler's API ----

  /**
   * The next message, `""` once closed, or `false` after `timeout` seconds (0: the
   * `socket_read_timeout` setting; < 0: forever).
   */
  recv(timeout: number): Promise<RecvResult> {
    if (this.#waiter) return this.#concurrentWait("recv()");
    if (this.#inbound.length > 0) {
      const frame = this.#take();
      return this.#takeTurn() ? Promise.resolve(frame) : trueNextTurn().then(() => frame);
    }
    if (this.#state !== "open") return this.#settled("");
    const seconds = timeout === 0 ? this.#settings.socket_read_timeout : timeout;
    const received = this.#wait<RecvResult>(false);
    // Past the longest timer (Infinity included) is forever: a timer would fire at once.
    if (seconds > 0 && seconds <= MAX_TIMER_SECONDS) {
      this.#waiterTimer = setTimeout(() => {
        this.#waiterTimer = undefined;
        this.#setError(ERROR.TIMEOUT, `recv() timed out after ${seconds} s`);
        this.#settleWaiter(false);
      }, seconds * 1000);
    }
    return received;
  }

  /**
   * The next message as an iterator's result, done once the connection has closed or failed.
   * The result is made where the message arrives, not in a `then()` on `recv()`: each hop
   * between them is a chance for the runtime to report a close before the handler has
   * answered what came before it.
   *
   * While a `recv()` on this connection is waiting, the promise rejects with
   * `ConcurrencyError`.
   */
  next(): Promise<IteratorResult<Frame>> {
    if (this.#waiter) return this.#concurrentWait("next()");
    if (this.#inbound.length > 0) {
      const item: IteratorResult<Frame> = { done: false, value: this.#take() };
      return this.#takeTurn() ? Promise.resolve(item) : nextTurn(item);
    }
    if (this.#state !== "open") return this.#settled(DONE);
    return this.#wait<IteratorResult<Frame>>(true);
  }

  /** A second waiter is a bug in the handler: it gets a rejected promise, so `.catch()` sees it. */
  #concurrentWait(action: string): Promise<never> {
    return Promise.reject(
      new ConcurrencyError(
        `Cannot call ${action}: another recv() on this connection is still waiting`,
      ),
    );
  }

  /** A promise the next message (or the close) settles; see #settleWaiter(). */
  #wait<T>(iterates: boolean): Promise<T> {
    this.#waiterIterates = iterates;
    // One shared executor, not a closure per call: this is the hottest path there is.
    WebSocketConnection.#waiting = this;
    return new Promise<T>(WebSocketConnection.#storeWaiter);
  }

  static #waiting: WebSocketConnection | undefined;
  static #storeWaiter(resolve: (result: never) => void): void {
    // #settleWaiter() gives it a RecvResult or an IteratorResult, as #waiterIterates says.
    WebSocketConnection.#waiting!.#waiter = resolve as Waiter;
    WebSocketConnection.#waiting = undefined;
  }

  /**
   * Sends a message, or a fragment of one; resolves once the runtime has taken it below the
   * write limit, false once the connection is closing or closed.
   *
   * @param flags {@link FLAG} bits: `FIN` ends the message, `COMPRESS` compresses it where
   * the peer negotiated permessage-deflate and it is at least 128 bytes long (of a fragmented
   * message, the first fragment's flags and length decide)
   * @throws {RangeError} for an opcode that `push()` cannot send, a continuation with no
   * message started, or a Close frame with a code or reason that may not be sent
   */
  push(data: PushData, opcode: Opcode, flags: number): Promise<boolean> {
    if (data instanceof Frame) return this.#pushFrame(data);
    if (this.#state !== "open") return this.#closedFailure("push()");
    const finish = (flags & FLAG.FIN) !== 0;
    if (opcode === OPCODE.CONTINUATION) {
      if (this.#fragmentText === undefined) {
        throw new RangeError("Cannot push a continuation: no fragmented message is open");
      }
      return this.#pushFragment(data, this.#fragmentText, finish);
    }
    if (opcode !== OPCODE.TEXT && opcode !== OPCODE.BINARY) {
      throw new RangeError(`Cannot push opcode ${opcode} as data: pass a Frame to send it`);
    }
    const text = opcode === OPCODE.TEXT;
    const payload = asPayload(data, text);
    const compress = (flags & FLAG.COMPRESS) !== 0 && worthCompressing(payload);
    if (this.#fragmentText !== undefined) {
      // Another task's message must not land inside the open fragmented one.
      return new Promise((resolve) => {
        if (this.#heldBack === NONE) this.#heldBack = [];
        this.#heldBack.push({ data: payload, text, fin: finish, compress, resolve });
      });
    }
    return this.#startMessage(payload, text, finish, compress);
  }

  #startMessage(
    payload: FrameData,
    text: boolean,
    finish: boolean,
    compress: boolean,
  ): Promise<boolean> {
    if (finish) return this.#send(payload, true, compress);
    this.#fragmentText = text;
    this.#fragmentCompress = compress;
    return this.#pushFragment(payload, text, false);
  }

  /**
   * Sends a whole message now if the connection can take it without waiting: open, no
   * fragmented message in progress, nothing queued, and below `websocket_write_limit`.
   * Otherwise skips it and returns false: a fan-out never buffers for a slow consumer.
   * `compress` as for {@link push}'s `FLAG.COMPRESS`.
   */
  offer(data: FrameData, compress: boolean): boolean {
    if (
      this.#state !== "open" || this.#fragmentText !== undefined || this.#outbound.length > 0 ||
      !this.#belowWriteLimit(data)
    ) {
      return false;
    }
    this.#link!.send(data, true, compress && worthCompressing(data));
    this.#count(data, true);
    return true;
  }

  /** Sends a ping; false where the runtime cannot (see `capabilities.controlFrames`). */
  ping(data: FrameData): boolean {
    if (this.#state !== "open") {
      this.#setError(ERROR.WEBSOCKET_UNCONNECTED, "Cannot ping: the connection is not open");
      return false;
    }
    if (!this.#capabilities.controlFrames) {
      this.#setError(
        ERROR.WEBSOCKET_BAD_OPCODE,
        `Cannot ping: ${this.#capabilities.runtime} cannot send pings`,
      );
      return false;
    }
    this.#link!.ping(toBytes(data));
    return true;
  }

  /**
   * Closes the connection without a Close frame, after what `push()` resolved true for: the
   * runtime writes it, then ends the stream, within the bound of {@link #boundClose}. False if
   * it was already closed.
   */
  close(): boolean {
    if (this.#state === "closed") return false;
    const link = this.#link;
    this.closedBy ??= "self";
    this.#finish(); // First, so the close the runtime reports is ignored.
    if (link) {
      // Input left unread when the socket closes makes the kernel reset the connection, which
      // throws away what is still on its way to the peer.
      link.resume();
      link.end();
      // Unless the runtime has closed already (Bun can, from inside end()).
      if (this.#link) this.#boundClose(() => link.terminate());
    }
    return true;
  }

  /**
   * Sends a Close frame after what was pushed and waits for the peer's, then drops the
   * connection if it has not come within the bound of {@link #boundClose}. Resolves true once
   * the close is clean, false if the peer did not answer in time or the connection was already
   * closed.
   *
   * @throws {RangeError} for a code or reason that may not be sent
   */
  disconnect(code: number, reason: string): Promise<boolean> {
    encodeClosePayload(code, reason); // Validates before anything changes.
    if (this.#state === "closed") return this.#settled(false);
    if (this.#state === "closing") return this.#closedPromise!;
    this.#state = "closing";
    this.closeCode = code;
    this.closeReason = reason;
    this.closedBy ??= "self";
    this.#closedPromise = new Promise((resolve) => this.#resolveClosed = resolve);
    // Stop delivery now: a handler that closes is done reading.
    this.#settleWaiter("");
    this.#failPushes();
    const link = this.#link;
    if (link) {
      link.resume(); // A paused socket could not read the peer's Close.
      link.close(code, reason);
      // Unless the runtime has closed already (Bun can, from inside close()).
      if (this.#link) {
        this.#boundClose(() => {
          this.#resolveClosed?.(false); // The peer never answered: not a clean close.
          this.#finish();
          link.terminate();
        });
      }
    } else {
      this.#finish();
    }
    return this.#closedPromise;
  }

  // ---- internals ----

  #pushFrame(frame: Frame): Promise<boolean> {
    if (frame instanceof CloseFrame) return this.disconnect(frame.code, frame.reason);
    if (frame.opcode === OPCODE.PING) return this.ping(frame.data) ? TRUE : this.#settled(false);
    if (frame.opcode === OPCODE.PONG) {
      if (this.#state !== "open") return this.#closedFailure("push() a pong");
      if (!this.#capabilities.controlFrames) {
        this.#setError(
          ERROR.WEBSOCKET_BAD_OPCODE,
          `Cannot push a pong: ${this.#capabilities.runtime} cannot send pongs`,
        );
        return this.#settled(false);
      }
      this.#link!.pong(toBytes(frame.data));
      return TRUE;
    }
    return this.push(frame.data, frame.opcode, frame.flags);
  }

  #pushFragment(data: PushData, text: boolean, finish: boolean): Promise<boolean> {
    const payload = asPayload(data as Exclude<PushData, Frame>, text);
    if (finish) this.#fragmentText = undefined;
    let sent: Promise<boolean>;
    const compress = this.#fragmentCompress;
    if (this.#capabilities.fragments) {
      sent = this.#send(payload, finish, compress);
    } else {
      // The runtime sends whole messages only: gather the fragments, send them at the last.
      if (this.#assembly === NONE) this.#assembly = [];
      this.#assembly.push(payload);
      if (!finish) return TRUE;
      sent = this.#send(joinPayloads(this.#assembly, text), true, compress);
      this.#assembly = NONE;
    }
    // Release held-back messages in order, up to one that opens a fragmented message itself.
    while (this.#fragmentText === undefined && this.#heldBack.length > 0) {
      const item = this.#heldBack.shift()!;
      this.#startMessage(item.data, item.text, item.fin, item.compress).then(item.resolve);
    }
    return sent;
  }

  /** Sends now when nothing waits and the buffer is below the limit, else queues in order. */
  #send(data: FrameData, fin: boolean, compress: boolean): Promise<boolean> {
    const link = this.#link!;
    this.#count(data, fin);
    if (this.#outbound.length === 0 && this.#belowWriteLimit(data)) {
      link.send(data, fin, compress);
      return this.#takeTurn() ? TRUE : trueNextTurn();
    }
    if (this.#outbound === NONE) this.#outbound = [];
    const sent = new Promise<boolean>((resolve) =>
      this.#outbound.push({ data, fin, compress, resolve })
    );
    if (this.#outbound.length === 1) link.requestDrain();
    return sent;
  }

  #deliver(frame: Frame, size: number): void {
    frame.fd = this.fd;
    if (this.#waiter) {
      this.#settleWaiter(frame);
      return;
    }
    this.#inbound.push(frame);
    this.#inboundCost += size + MESSAGE_OVERHEAD;
    const settings = this.#settings;
    const highBytes = settings.package_max_length;
    // Four times the high-water mark, counting each message's overhead: one message of
    // package_max_length always fits, and a flood of tiny ones is still bounded.
    const bound = 4 * (highBytes + settings.websocket_max_queue * MESSAGE_OVERHEAD);
    if (this.#inboundCost > Math.max(bound, MIN_INBOUND_BOUND)) {
      // Only a runtime that cannot pause (or delivers a lot already read) gets here.
      this.#fail(CLOSE.POLICY_ERROR, "Inbound queue full");
    } else if (
      !this.#paused && this.#capabilities.pause &&
      (this.#inbound.length >= settings.websocket_max_queue || this.#inboundCost >= highBytes)
    ) {
      this.#paused = true;
      this.#link!.pause();
    }
  }

  #take(): Frame {
    const frame = this.#inbound.shift()!;
    if (this.#inbound.length === 0) this.#inboundCost = 0;
    else this.#inboundCost -= approximateSize(frame.data) + MESSAGE_OVERHEAD;
    if (
      this.#paused && this.#inbound.length <= this.#settings.websocket_max_queue / 4 &&
      this.#inboundCost <= this.#settings.package_max_length / 4
    ) {
      this.#paused = false;
      this.#link?.resume();
    }
    return frame;
  }

  /** Closes with `code` because the peer broke a rule the runtime did not enforce. */
  #fail(code: number, reason: string): void {
    this.#inbound = [];
    this.#inboundCost = 0;
    this.#setViolationError(code);
    void this.disconnect(code, reason);
  }

  /**
   * Says in `errCode` why the connection is closing when the peer broke a rule: `recv()` then
   * returns `""` as for any close, and the error tells it from the peer's own.
   */
  #setViolationError(code: number): void {
    this.closedBy = "rule";
    if (code === CLOSE.MESSAGE_TOO_BIG) {
      this.#setError(
        ERROR.PACKAGE_LENGTH_TOO_LARGE,
        "Closed with 1009: a message was over package_max_length",
      );
    } else if (code === CLOSE.POLICY_ERROR) {
      this.#setError(ERROR.QUEUE_FULL, "Closed with 1008: the peer sent more than recv() took");
    } else {
      this.#setError(ERROR.PROTOCOL_ERROR, `Closed with ${code}: the peer broke the protocol`);
    }
  }

  /**
   * Whether the runtime has less than `websocket_write_limit` buffered. Reading its
   * `bufferedAmount` is a native call on Bun and Deno, so it is read only once what was sent
   * since the last reading could have reached the limit: the buffer cannot hold more.
   */
  #belowWriteLimit(data: FrameData): boolean {
    const limit = this.#settings.websocket_write_limit;
    // An upper bound: 3 UTF-8 bytes per UTF-16 unit, and the largest frame header.
    const size = (typeof data === "string" ? data.length * 3 : data.byteLength) + 14;
    if (this.#bufferedAtMost + size < limit) {
      this.#bufferedAtMost += size;
      return true;
    }
    const buffered = this.#link!.bufferedAmount;
    this.#bufferedAtMost = buffered + size;
    return buffered < limit;
  }

  /**
   * Bounds a close the core started: `onTimeout` runs once the peer has taken nothing for
   * `websocket_close_timeout` seconds. The wait starts again whenever the runtime's buffer has
   * shrunk, so a slow reader still gets everything; once the buffer is empty, the peer has at
   * least one more timeout to finish the close.
   */
  #boundClose(onTimeout: () => void): void {
    const link = this.#link!;
    const ms = this.#settings.websocket_close_timeout * 1000;
    let buffered = link.bufferedAmount;
    const check = () => {
      // The runtime counts only what the kernel has not taken: a peer that reads slowly shows
      // progress in steps of up to a third of the kernel's send buffer.
      const now = link.bufferedAmount;
      if (now < buffered) {
        buffered = now;
        this.#closeTimer = setTimeout(check, ms);
        return;
      }
      this.#closeTimer = undefined;
      onTimeout();
    };
    this.#closeTimer = setTimeout(check, ms);
  }

  #stopCloseTimer(): void {
    if (this.#closeTimer === undefined) return;
    clearTimeout(this.#closeTimer);
    this.#closeTimer = undefined;
  }

  /**
   * `value` as a settled promise, within this turn's budget: a loop that ignores `false` or
   * `""` and calls again gets them at once, and must still let the others run.
   */
  #settled<T>(value: T): Promise<T> {
    return this.#takeTurn() ? Promise.resolve(value) : nextTurn(value);
  }

  /** Counts one immediate completion; false once this turn's budget is spent. */
  #takeTurn(): boolean {
    const now = currentTurn();
    if (now !== this.#turn) {
      this.#turn = now;
      this.#completions = 0;
    }
    return ++this.#completions <= TURN_BUDGET;
  }

  #watchIdle(seconds: number): void {
    this.#idleSeconds = seconds;
    const watches = WebSocketConnection.#idleWatches;
    let watch = watches.get(seconds);
    if (!watch) {
      const connections = new Set<WebSocketConnection>();
      // Checking at half the timeout drops a silent peer after 1 to 1.5 timeouts of silence.
      const timer = setInterval(() => {
        for (const connection of connections) connection.#checkIdle(seconds);
      }, seconds * 500);
      watch = { connections, timer };
      watches.set(seconds, watch);
    }
    watch.connections.add(this);
  }

  #unwatchIdle(): void {
    const watches = WebSocketConnection.#idleWatches;
    const watch = watches.get(this.#idleSeconds);
    if (!watch) return;
    watch.connections.delete(this);
    if (watch.connections.size === 0) {
      clearInterval(watch.timer);
      watches.delete(this.#idleSeconds);
    }
  }

  #checkIdle(seconds: number): void {
    if (this.#state !== "open") return;
    // Paused, the runtime reads nothing: the peer may be talking, so it is not silent.
    if (this.#heard || this.#paused) {
      this.#heard = false;
      this.#pinged = false;
    } else if (!this.#pinged && this.#capabilities.controlFrames) {
      this.#pinged = true;
      this.#link!.ping(NO_BYTES);
    } else {
      this.closedBy = "timeout";
      this.#setError(ERROR.TIMEOUT, `The peer sent nothing for ${seconds} s: dropped`);
      this.close();
    }
  }

  #finish(): void {
    this.#state = "closed";
    this.#stopCloseTimer();
    if (this.#idleSeconds > 0) this.#unwatchIdle();
    this.#settleOpened(false);
    this.#resolveClosed?.(true);
    if (this.#inbound.length > 0 && this.#waiter) this.#settleWaiter(this.#take());
    else this.#settleWaiter("");
    this.#failPushes();
    this.#onClosed(this);
  }

  #settleWaiter(result: RecvResult): void {
    const waiter = this.#waiter;
    if (!waiter) return;
    this.#waiter = undefined;
    if (this.#waiterTimer !== undefined) {
      clearTimeout(this.#waiterTimer);
      this.#waiterTimer = undefined;
    }
    if (!this.#waiterIterates) waiter(result);
    else waiter(result === "" || result === false ? DONE : { done: false, value: result });
  }

  #failPushes(): void {
    const pending = [...this.#outbound, ...this.#heldBack];
    this.#outbound = NONE;
    this.#heldBack = NONE;
    this.#assembly = NONE;
    this.#fragmentText = undefined;
    for (const item of pending) item.resolve(false);
  }

  #closedFailure(action: string): Promise<boolean> {
    this.#setError(
      ERROR.WEBSOCKET_UNCONNECTED,
      `Cannot ${action}: the connection is ${this.#state}`,
    );
    return this.#settled(false);
  }

  #setError(code: number, message: string): void {
    this.errCode = code;
    this.errMsg = message;
    this.errSequence = setLastError(code);
  }
}
