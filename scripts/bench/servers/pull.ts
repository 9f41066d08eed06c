/**
 * What `pull_bun.ts` and `pull_deno.ts` share: a linear handler per connection over a promise
 * and a queue, with no limits and no metrics. The runtime's callback hands each message to
 * {@link Pull.receive}; the handler waits in `recv()` and answers with an awaited `push()` that
 * resolves at once, as coro-ws's does below the write limit.
 */

const SENT: Promise<boolean> = Promise.resolve(true);

/** One connection's received messages and the handler's waiting recv(). */
export class Pull<Message> {
  readonly #send: (data: Message | string) => void;
  #queue: Message[] = [];
  #waiter: ((message: Message) => void) | undefined;

  constructor(send: (data: Message | string) => void) {
    this.#send = send;
  }

  /** From the runtime's message callback. */
  receive(message: Message): void {
    const waiter = this.#waiter;
    if (!waiter) {
      this.#queue.push(message);
      return;
    }
    this.#waiter = undefined;
    waiter(message);
  }

  recv(): Promise<Message> {
    if (this.#queue.length > 0) return Promise.resolve(this.#queue.shift()!);
    return new Promise((resolve) => this.#waiter = resolve);
  }

  push(data: Message | string): Promise<boolean> {
    this.#send(data);
    return SENT;
  }
}

/** The seed's echo (two replies per text message), or with `once` each message sent back. */
export async function echo<Message>(pull: Pull<Message>, once: boolean): Promise<void> {
  for (;;) {
    const message = await pull.recv();
    if (once) {
      await pull.push(message);
      continue;
    }
    if (typeof message !== "string") continue;
    await pull.push(`Hello ${message}!`);
    await pull.push(`How are you, ${message}?`);
  }
}
