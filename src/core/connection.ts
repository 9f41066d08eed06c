/**
 * A WebSocket connection's state machine and close rules, free of any runtime: adapters drive
 * it through {@link WebSocketEvents}; it acts on the socket through {@link WebSocketLink}, and
 * reads the runtime's capabilities to pick one behaviour for every runtime. Received messages
 * wait in an {@link InboundQueue}, sends go through an {@link Outbound}, and silent peers are
 * found by the context's {@link IdleWatch}.
 *
 * @module
 */

import { CLOSE, ERROR, FLAG, OPCODE, type Opcode } from "./constants.ts";
import type { ConnectionContext, ConnectionOwner } from "./context.ts";
import { Deadline } from "./deadline.ts";
import { type ClosedBy, FailureRecord, violationError } from "./errors.ts";
import { nextTurn, TurnBudget } from "./fairness.ts";
import { CloseFrame, encodeClosePayload, Frame, type FrameData } from "./frame.ts";
import type { IdleWatched } from "./idle.ts";
import { InboundQueue } from "./inbound.ts";
import type { WebSocketEvents, WebSocketLink } from "./link.ts";
import type { Traffic } from "./observer.ts";
import { Outbound } from "./outbound.ts";
import type { PushData, RecvResult } from "./payload.ts";
import { MAX_TIMER_SECONDS } from "./settings.ts";

type State = "connecting" | "open" | "closing" | "closed";

const TRUE = Promise.resolve(true);

/**
 * How long a runtime that cannot report an abandoned handshake gets to open the socket once it
 * has the 101: the server writes it, so a client that stayed needs no round trip.
 */
const ABANDONED_HANDSHAKE_MS = 2000;

/** One upgraded connection, as seen by the core. */
export class WebSocketConnection implements WebSocketEvents, IdleWatched, ConnectionOwner {
  /** The connection number, copied into every frame's `fd`. */
  readonly fd: number;
  /** The last failure: the endpoint's `errCode` and `errMsg` when newer than its own. */
  readonly failure: FailureRecord = new FailureRecord();
  /**
   * How it closed: the peer's Close code, this side's, or 1006 when dropped without one; the
   * reason with it; and who ended it (see {@link ClosedBy}). Read once closed.
   */
  closeCode: number = CLOSE.ABNORMAL;
  closeReason = "";
  closedBy: ClosedBy | undefined;
  /** Counted for the access log only (see `access_log`). */
  readonly traffic: Traffic | undefined;
  /** @internal Whether the peer sent anything since the idle watch last checked. */
  heard = true;

  #state: State = "connecting";
  #link: WebSocketLink | undefined;
  readonly #context: ConnectionContext;
  readonly #onClosed: (connection: WebSocketConnection) => void;
  readonly #inbound: InboundQueue;
  readonly #outbound: Outbound;
  /** Settles whenReleased()'s promise. */
  #released: (() => void) | undefined;
  /** Settles whenOpen()'s promise; dropped once it has. */
  #resolveOpened: ((open: boolean) => void) | undefined;
  /** Bounds the opening handshake (see whenOpen()), then a close the core started. */
  #pendingDeadline: Deadline | undefined;
  /** The idle timeout this connection is watched under, if any. */
  #idleSeconds = 0;
  /** Immediate completions of this connection's calls in this event-loop turn. */
  readonly #budget = new TurnBudget();
  #closedPromise: Promise<boolean> | undefined;
  #resolveClosed: ((closed: boolean) => void) | undefined;

  /**
   * @param fd the connection number
   * @param context what the connections of this server or client share
   * @param onClosed called once, when the connection has closed for any reason
   */
  constructor(
    fd: number,
    context: ConnectionContext,
    onClosed: (connection: WebSocketConnection) => void,
  ) {
    this.fd = fd;
    this.#context = context;
    this.#onClosed = onClosed;
    this.#inbound = new InboundQueue(context, this, this.#budget);
    this.#outbound = new Outbound(context, this, this.#budget);
    if (context.observer.accessLog) {
      this.traffic = { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 };
    }
  }

  /** Whether the connection is open for sending and receiving. */
  get isOpen(): boolean {
    return this.#state === "open";
  }

  /**
   * Resolves true once the runtime reports the socket open, false if it closed first or has not
   * opened in time: after `websocket_close_timeout`, or sooner where the runtime would never
   * report a handshake whose client left (`capabilities.reportsAbandonedHandshake`). Call it
   * once, after the upgrade.
   */
  whenOpen(): Promise<boolean> {
    if (this.#state !== "connecting") return Promise.resolve(this.#state === "open");
    const closeTimeoutMs = this.#context.settings.websocket_close_timeout * 1000;
    const ms = this.#context.capabilities.reportsAbandonedHandshake
      ? closeTimeoutMs
      : Math.min(closeTimeoutMs, ABANDONED_HANDSHAKE_MS);
    this.#deadline.after(ms, () => {
      if (this.#state !== "connecting") return;
      this.closedBy = "timeout";
      this.failure.set(ERROR.WEBSOCKET_HANDSHAKE_FAILED, "The handshake did not complete in time");
      this.#finish();
    });
    return new Promise((resolve) => this.#resolveOpened = resolve);
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
    this.#pendingDeadline?.stop();
    this.#link = link;
    this.#inbound.flow = link;
    this.#outbound.link = link;
    this.#state = "open";
    this.#settleOpened(true);
    const idleSeconds = this.#context.settings.websocket_idle_timeout;
    if (idleSeconds > 0 && !this.#context.capabilities.idleTimeout) {
      this.#idleSeconds = idleSeconds;
      this.#context.idleWatch.add(this, idleSeconds);
    }
  }

  receiveMessage(data: string | Uint8Array): void {
    this.heard = true;
    if (this.#state !== "open") return;
    const refused = this.#inbound.receive(data, this.fd, this.traffic);
    if (refused === CLOSE.MESSAGE_TOO_BIG) this.#fail(refused, "Message too big");
    else if (refused === CLOSE.POLICY_ERROR) this.#fail(refused, "Inbound queue full");
  }

  receivePing(data: Uint8Array): void {
    this.#receiveControl(data, OPCODE.PING, this.#context.settings.open_websocket_ping_frame);
  }

  receivePong(data: Uint8Array): void {
    this.#receiveControl(data, OPCODE.PONG, this.#context.settings.open_websocket_pong_frame);
  }

  receiveClose(code: number, reason: string): void {
    this.#link = undefined; // The runtime is done with the socket.
    this.#outbound.link = undefined;
    this.#inbound.flow = undefined;
    this.#released?.();
    if (this.#state === "closed") {
      // The end of a close() (or a runtime reporting one close twice): nothing left to bound.
      this.#pendingDeadline?.stop();
      return;
    }
    const fromPeer = this.#state === "open";
    if (fromPeer) {
      this.closeCode = code;
      this.closeReason = reason;
      this.closedBy = "peer";
      if (code === CLOSE.ABNORMAL) {
        this.failure.set(ERROR.CONNECTION_RESET, "The peer dropped the connection without a Close");
      } else if (this.#context.settings.open_websocket_close_frame) {
        this.#inbound.deliverClose(new CloseFrame(code, reason, this.fd));
      }
    } else {
      this.closedBy ??= "peer"; // The handshake failed: the peer or the network ended it.
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
    this.#inbound.settle("");
    this.#outbound.fail();
  }

  receiveDrain(): void {
    if (this.#link && this.#state === "open") this.#outbound.drain();
  }

  // ---- the handler's API ----

  /**
   * The next message, `""` once closed, or `false` after `timeout` seconds (0: the
   * `socket_read_timeout` setting; < 0: forever).
   */
  recv(timeout: number): Promise<RecvResult> {
    const seconds = timeout === 0 ? this.#context.settings.socket_read_timeout : timeout;
    // Past the longest timer (Infinity included) is forever: a timer would fire at once.
    const bounded = seconds > 0 && seconds <= MAX_TIMER_SECONDS;
    return this.#inbound.recv(this.#state === "open", bounded ? seconds : undefined);
  }

  /**
   * The next message as an iterator's result, done once the connection has closed or failed.
   * While a `recv()` on this connection is waiting, the promise rejects with
   * `ConcurrencyError`.
   */
  next(): Promise<IteratorResult<Frame>> {
    return this.#inbound.next(this.#state === "open");
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
    if (this.#state !== "open") return this.#settled(this.#notOpen("push()"));
    return this.#outbound.push(data, opcode, flags);
  }

  /**
   * Sends a whole message now if the connection can take it without waiting: open, no
   * fragmented message in progress, nothing queued, and below `websocket_write_limit`.
   * Otherwise skips it and returns false: a fan-out never buffers for a slow consumer.
   * `compress` as for {@link push}'s `FLAG.COMPRESS`.
   */
  offer(data: FrameData, compress: boolean): boolean {
    return this.#state === "open" && this.#outbound.offer(data, compress);
  }

  /** Sends a ping; false where the runtime cannot (see `capabilities.controlFrames`). */
  ping(data: FrameData): boolean {
    return this.#control("ping", data);
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
    this.#outbound.flush();
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
    this.#inbound.settle("");
    this.#outbound.flush(); // What was pushed goes before the Close;
    this.#outbound.fail(); // what waits for a drain does not go at all.
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

  // ---- what the idle watch reads and asks ----

  /** @internal Whether reading is paused because the handler fell behind. */
  get readPaused(): boolean {
    return this.#inbound.paused;
  }

  /** @internal The peer sent nothing past the idle timeout. */
  dropSilent(seconds: number): void {
    this.closedBy = "timeout";
    this.failure.set(ERROR.TIMEOUT, `The peer sent nothing for ${seconds} s: dropped`);
    this.close();
  }

  // ---- internals ----

  get #deadline(): Deadline {
    return this.#pendingDeadline ??= new Deadline(this.#context.clock);
  }

  #settleOpened(open: boolean): void {
    const resolve = this.#resolveOpened;
    this.#resolveOpened = undefined;
    resolve?.(open);
  }

  #pushFrame(frame: Frame): Promise<boolean> {
    if (frame instanceof CloseFrame) return this.disconnect(frame.code, frame.reason);
    const kind = frame.opcode === OPCODE.PING ? "ping" : frame.opcode === OPCODE.PONG ? "pong" : "";
    if (kind === "") return this.push(frame.data, frame.opcode, frame.flags);
    return this.#control(kind, frame.data) ? TRUE : this.#settled(false);
  }

  /** Sends a ping or a pong after what was pushed before it, where the runtime can. */
  #control(kind: "ping" | "pong", data: FrameData): boolean {
    return this.#state === "open" ? this.#outbound.control(kind, data) : this.#notOpen(kind);
  }

  /** A ping or pong from the peer: a frame for the handler where `delivered` says so. */
  #receiveControl(data: Uint8Array, opcode: Opcode, delivered: boolean): void {
    this.heard = true;
    if (this.#state !== "open" || !delivered) return;
    const frame = new Frame(data, opcode, FLAG.FIN, this.fd);
    if (!this.#inbound.deliver(frame, data.byteLength)) {
      this.#fail(CLOSE.POLICY_ERROR, "Inbound queue full");
    }
  }

  /** Closes with `code` because the peer broke a rule the runtime did not enforce. */
  #fail(code: number, reason: string): void {
    this.#inbound.clear();
    this.#setViolationError(code);
    void this.disconnect(code, reason);
  }

  /**
   * Says in `errCode` why the connection is closing when the peer broke a rule: `recv()` then
   * returns `""` as for any close, and the error tells it from the peer's own.
   */
  #setViolationError(code: number): void {
    this.closedBy = "rule";
    this.failure.set(...violationError(code));
  }

  /** Bounds a close the core started: see {@link Deadline.untilStalled}. */
  #boundClose(onTimeout: () => void): void {
    const ms = this.#context.settings.websocket_close_timeout * 1000;
    this.#deadline.untilStalled(this.#link!, ms, onTimeout);
  }

  /**
   * `value` as a settled promise, within this turn's budget: a loop that ignores `false` or
   * `""` and calls again gets them at once, and must still let the others run.
   */
  #settled<T>(value: T): Promise<T> {
    return this.#budget.take() ? Promise.resolve(value) : nextTurn(value);
  }

  #finish(): void {
    this.#state = "closed";
    this.#pendingDeadline?.stop();
    if (this.#idleSeconds > 0) this.#context.idleWatch.delete(this, this.#idleSeconds);
    this.#settleOpened(false);
    this.#resolveClosed?.(true);
    this.#inbound.end();
    this.#outbound.fail();
    this.#onClosed(this);
  }

  /** Records that `action` failed because the connection is not open; false. */
  #notOpen(action: string): false {
    this.failure.set(
      ERROR.WEBSOCKET_UNCONNECTED,
      `Cannot ${action}: the connection is ${this.#state}`,
    );
    return false;
  }
}
