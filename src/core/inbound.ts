/**
 * The bounded queue behind `recv()`: messages wait here until the handler asks for them, and
 * the runtime is told to stop reading while too many wait (a high and a low water mark). One
 * handler task may wait at a time; a second is a bug it is told about.
 *
 * @module
 */

import type { TimerHandle } from "./clock.ts";
import type { ConnectionContext, ConnectionOwner } from "./context.ts";
import { ConcurrencyError } from "./errors.ts";
import { nextTurn, trueNextTurn, type TurnBudget } from "./fairness.ts";
import { CLOSE, ERROR, FLAG, OPCODE } from "./constants.ts";
import { Frame } from "./frame.ts";
import type { Traffic } from "./observer.ts";
import { approximateSize, type RecvResult, utf8Length } from "./payload.ts";

/** What settles a waiting `recv()` or iterator `next()`. */
type Waiter = (result: RecvResult | IteratorResult<Frame>) => void;

/** What the queue tells to stop and start reading: the link, once the socket is open. */
export interface Flow {
  pause(): void;
  resume(): void;
}

/** A second waiter is a bug in the handler: it gets a rejected promise, so `.catch()` sees it. */
function concurrentWait(action: string): Promise<never> {
  return Promise.reject(
    new ConcurrencyError(
      `Cannot call ${action}: another recv() on this connection is still waiting`,
    ),
  );
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };
/** The empty queue that connections share until a message waits; never pushed to itself. */
const NONE: never[] = [];

/** Cost counted for each queued message on top of its bytes, so tiny messages add up too. */
const MESSAGE_OVERHEAD = 64;

/**
 * The least cost the queue may reach before the connection closes with 1008: a runtime that
 * pauses reading still delivers the rest of the read in progress (up to 64 KiB of frames,
 * which may be a thousand small messages), and that must not close a connection whose limits
 * are low. It cannot be a hard limit at the high-water mark for the same reason.
 */
const MIN_BOUND = 1024 * 1024;

/** One connection's received messages, and the task waiting for the next. */
export class InboundQueue {
  /** Stops and starts the runtime's reading; unset until the socket is open. */
  flow: Flow | undefined;
  readonly #context: ConnectionContext;
  readonly #owner: ConnectionOwner;
  #frames: Frame[] = NONE;
  #cost = 0;
  #paused = false;
  #waiter: Waiter | undefined;
  #waiterTimer: TimerHandle | undefined;
  /** Whether the waiter is an iterator's next(), which resolves with an IteratorResult. */
  #waiterIterates = false;

  readonly #budget: TurnBudget;

  constructor(context: ConnectionContext, owner: ConnectionOwner, budget: TurnBudget) {
    this.#context = context;
    this.#owner = owner;
    this.#budget = budget;
  }

  /** How many messages wait. */
  get length(): number {
    return this.#frames.length;
  }

  /** Whether a task waits for the next message. */
  get waiting(): boolean {
    return this.#waiter !== undefined;
  }

  /** Whether the runtime was told to stop reading. */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Counts a data message and delivers it; the Close code to close with when it may not be
   * taken (1009 over `package_max_length`, 1008 past the queue's bound), else 0.
   */
  receive(data: string | Uint8Array, fd: number, traffic: Traffic | undefined): number {
    const size = approximateSize(data);
    const text = typeof data === "string";
    const bytes = text ? utf8Length(data) : size;
    // Runtimes without a native limit (Deno) or with a larger one deliver it; refuse it here.
    if (bytes > this.#context.settings.package_max_length) return CLOSE.MESSAGE_TOO_BIG;
    this.#context.observer.received(bytes, traffic);
    const opcode = text ? OPCODE.TEXT : OPCODE.BINARY;
    return this.deliver(new Frame(data, opcode, FLAG.FIN, fd), size) ? 0 : CLOSE.POLICY_ERROR;
  }

  /**
   * Gives `frame` (of `size` bytes, UTF-16 units for text) to the waiting task, or queues it.
   * False once the queue is past its bound: the peer sends more than `recv()` takes and the
   * runtime could not be paused in time.
   */
  deliver(frame: Frame, size: number): boolean {
    if (this.#waiter) {
      this.settle(frame);
      return true;
    }
    if (this.#frames === NONE) this.#frames = [];
    this.#frames.push(frame);
    this.#cost += size + MESSAGE_OVERHEAD;
    const settings = this.#context.settings;
    const highBytes = settings.package_max_length;
    // Four times the high-water mark, counting each message's overhead: one message of
    // package_max_length always fits, and a flood of tiny ones is still bounded.
    const bound = 4 * (highBytes + settings.websocket_max_queue * MESSAGE_OVERHEAD);
    if (this.#cost > Math.max(bound, MIN_BOUND)) return false;
    if (
      !this.#paused && this.#context.capabilities.pause &&
      (this.#frames.length >= settings.websocket_max_queue || this.#cost >= highBytes)
    ) {
      this.#paused = true;
      this.flow?.pause();
    }
    return true;
  }

  /** Queues the peer's Close frame, which `recv()` returns after the messages before it. */
  deliverClose(frame: Frame): void {
    if (this.#frames === NONE) this.#frames = [];
    this.#frames.push(frame);
  }

  /** The oldest message; reading resumes once a quarter of the high-water mark is left. */
  take(): Frame {
    const frame = this.#frames.shift()!;
    if (this.#frames.length === 0) {
      this.#frames = NONE;
      this.#cost = 0;
    } else {
      this.#cost -= approximateSize(frame.data) + MESSAGE_OVERHEAD;
    }
    const settings = this.#context.settings;
    if (
      this.#paused && this.#frames.length <= settings.websocket_max_queue / 4 &&
      this.#cost <= settings.package_max_length / 4
    ) {
      this.#paused = false;
      this.flow?.resume();
    }
    return frame;
  }

  /**
   * The next message, `""` once the connection is not `open`, or `false` after `seconds`
   * (forever when undefined).
   */
  recv(open: boolean, seconds: number | undefined): Promise<RecvResult> {
    if (this.#waiter) return concurrentWait("recv()");
    if (this.#frames.length > 0) {
      const frame = this.take();
      return this.#budget.take() ? Promise.resolve(frame) : trueNextTurn().then(() => frame);
    }
    if (!open) return this.#settled("");
    return this.#wait<RecvResult>(false, seconds);
  }

  /**
   * The next message as an iterator's result, done once the connection is not `open`. The
   * result is made where the message arrives, not in a `then()` on `recv()`: each hop between
   * them is a chance for the runtime to report a close before the handler has answered what
   * came before it.
   */
  next(open: boolean): Promise<IteratorResult<Frame>> {
    if (this.#waiter) return concurrentWait("next()");
    if (this.#frames.length > 0) {
      const item: IteratorResult<Frame> = { done: false, value: this.take() };
      return this.#budget.take() ? Promise.resolve(item) : nextTurn(item);
    }
    if (!open) return this.#settled(DONE);
    return this.#wait<IteratorResult<Frame>>(true);
  }

  /**
   * `value` as a settled promise, within this turn's budget: a loop that ignores `""` and
   * calls again gets it at once, and must still let the others run.
   */
  #settled<T>(value: T): Promise<T> {
    return this.#budget.take() ? Promise.resolve(value) : nextTurn(value);
  }

  /** Drops every queued message: the connection is closing because the peer broke a rule. */
  clear(): void {
    this.#frames = NONE;
    this.#cost = 0;
  }

  /**
   * A promise the next message (or the close) settles, as a `RecvResult` or, with `iterates`,
   * an `IteratorResult`. After `seconds` (if given) it settles `false` and the owner hears why.
   */
  #wait<T>(iterates: boolean, seconds?: number): Promise<T> {
    this.#waiterIterates = iterates;
    // One shared executor, not a closure per call: this is the hottest path there is.
    InboundQueue.#waiting = this;
    const received = new Promise<T>(InboundQueue.#storeWaiter);
    if (seconds !== undefined) {
      this.#waiterTimer = this.#context.clock.setTimeout(() => {
        this.#waiterTimer = undefined;
        this.#owner.failure.set(ERROR.TIMEOUT, `recv() timed out after ${seconds} s`);
        this.settle(false);
      }, seconds * 1000);
    }
    return received;
  }

  /** Settles the waiting task, if any: a message, `""` once closed, `false` on a timeout. */
  settle(result: RecvResult): void {
    const waiter = this.#waiter;
    if (!waiter) return;
    this.#waiter = undefined;
    if (this.#waiterTimer !== undefined) {
      this.#context.clock.clearTimeout(this.#waiterTimer);
      this.#waiterTimer = undefined;
    }
    if (!this.#waiterIterates) waiter(result);
    else waiter(result === "" || result === false ? DONE : { done: false, value: result });
  }

  /** The connection has closed: the waiting task gets a message still queued, else the end. */
  end(): void {
    if (this.#frames.length > 0 && this.#waiter) this.settle(this.take());
    else this.settle("");
  }

  static #waiting: InboundQueue | undefined;
  static #storeWaiter(resolve: (result: never) => void): void {
    // settle() gives it a RecvResult or an IteratorResult, as #waiterIterates says.
    InboundQueue.#waiting!.#waiter = resolve as Waiter;
    InboundQueue.#waiting = undefined;
  }
}
