/**
 * Delivery: every `push()` that resolved `true` reaches the peer, whatever the handler does
 * next (close, return, disconnect), however slowly the peer reads, and whatever the peer does
 * after it (a protocol error). Each test counts what a real peer received over a real socket
 * against what the fixture says resolved `true`.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { FLAG, Frame, OPCODE, type Opcode } from "../../mod.ts";
import {
  assertServerSettled,
  message,
  open,
  runtime,
  type ServerProcess,
  startServer,
  within,
} from "../helpers.ts";
import { RawClient } from "../raw_client.ts";

const KIB = 1024;
const MIB = 1024 * KIB;
/** What a slow peer reads per second. */
const SLOW = MIB;
const server = await startServer("fixtures/delivery.ts");
/**
 * For slow peers: a write limit larger than what a slow peer reads in the close timeout (2 s),
 * so that a close timer which starts before the data is out cuts the peer off.
 */
const roomy = await startServer("fixtures/delivery.ts", {
  SETTINGS: JSON.stringify({ websocket_write_limit: 4 * MIB }),
});

let nextId = 0;

/** How many pushes resolved true on the connection the test called `id`. */
async function resolvedTrue(id: string, target: ServerProcess = server): Promise<number> {
  // The handler records it once its pushes have settled, just after the connection closed.
  for (let tries = 0; tries < 100; tries++) {
    const count = await (await fetch(`${target.url}/outcome?id=${id}`)).json() as number | null;
    if (count !== null) return count;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`[${runtime}] the handler for ${id} never finished`);
}

interface Case {
  count: number;
  size: number;
  then: "close" | "return" | "disconnect";
  /** All pushes fired in one turn, without awaiting each. */
  oneTurn: boolean;
  slow: boolean;
}

/** Runs one case and checks that the peer received, in order, every push that resolved true. */
async function deliver(c: Case): Promise<void> {
  const id = `${c.then}-${nextId++}`;
  const query = `id=${id}&count=${c.count}&size=${c.size}&then=${c.then}&turn=${c.oneTurn ? 1 : 0}`;
  const target = c.slow ? roomy : server;
  const { client, answer } = await RawClient.upgrade(target.port, `/push-then?${query}`);
  const name = `[${runtime}] ${c.count} × ${c.size} B, ${c.oneTurn ? "one turn" : "awaited"}, ` +
    `then ${c.then}(), ${c.slow ? "slow" : "fast"} reader`;
  try {
    assert.equal(answer.status, 101, name);
    if (c.slow) client.throttle(SLOW);
    const frames = await client.dataFramesUntilClose(c.count * c.size / SLOW * 1000 + 10_000);
    const sent = await resolvedTrue(id, target);
    if (!c.oneTurn) assert.equal(sent, c.count, `${name}: every awaited push resolved true`);
    assert.ok(sent > 0, `${name}: no push resolved true`);
    assert.equal(
      frames.length,
      sent,
      `${name}: received ${frames.length} of ${sent} resolved true`,
    );
    frames.forEach((frame, i) => {
      const data = frame.data as Uint8Array;
      assert.ok(data.byteLength === c.size && data[0] === (i & 0xff), `${name}: message ${i}`);
    });
  } finally {
    client.destroy();
  }
}

const ENDINGS = ["close", "return", "disconnect"] as const;

/** Runs the cases at once (each slow one takes seconds) and reports every one that failed. */
async function deliverAll(all: Case[]): Promise<void> {
  const failures = (await Promise.allSettled(all.map(deliver)))
    .filter((outcome) => outcome.status === "rejected")
    .map((outcome) => String((outcome as PromiseRejectedResult).reason.message));
  assert.deepEqual(failures, [], failures.join("\n"));
}

test(`[${runtime}] push() then close(), return or disconnect(): a fast peer gets every push that resolved true`, async () => {
  await deliverAll(ENDINGS.flatMap((then) =>
    [
      { count: 1, size: 16, then, oneTurn: true, slow: false },
      { count: 100, size: 16, then, oneTurn: true, slow: false },
      { count: 1, size: MIB, then, oneTurn: true, slow: false },
      { count: 4, size: MIB, then, oneTurn: false, slow: false },
    ] satisfies Case[]
  ));
});

test(`[${runtime}] push() then close(), return or disconnect(): a slow peer (1 MiB/s) gets every push that resolved true`, async () => {
  await deliverAll(ENDINGS.flatMap((then) =>
    [
      { count: 6, size: MIB, then, oneTurn: false, slow: true },
      { count: 60, size: 100 * KIB, then, oneTurn: false, slow: true },
    ] satisfies Case[]
  ));
});

test(`[${runtime}] pushes in one turn above websocket_write_limit all arrive, and later pushes too`, async () => {
  for (const [count, size] of [[20, 100 * KIB], [3, MIB], [50, 30 * KIB]]) {
    const name = `[${runtime}] ${count} × ${size} B in one turn`;
    const { client } = await RawClient.upgrade(server.port, `/burst?count=${count}&size=${size}`);
    try {
      for (let i = 0; i < count; i++) {
        const frame = await client.nextFrame(5000);
        assert.ok(frame, `${name}: message ${i} never came (a stall)`);
        assert.equal((frame.data as Uint8Array).byteLength, size, `${name}: message ${i}`);
      }
      const done = await client.nextFrame(5000);
      assert.equal(done?.data, `done ${count}`, `${name}: the push after the burst`);
    } finally {
      client.destroy();
    }
  }
});

/** Why a runtime closes before the handler can answer; the README's runtime table says more. */
const CLOSES_FIRST: Record<string, string | false> = {
  node: "ws parses a whole read at once and sends its Close before any handler code runs",
  bun: "Bun closes before the end of the turn, when coro-ws writes the handler's replies",
  deno: false,
};

test(`[${runtime}] a message received just before a protocol error is still answered`, {
  skip: CLOSES_FIRST[runtime],
}, async () => {
  const violations: [string, Uint8Array][] = [
    ["a reserved bit", Frame.pack("bad", OPCODE.TEXT, FLAG.FIN | FLAG.MASK | FLAG.RSV1)],
    ["a reserved opcode", Frame.pack("bad", 3 as Opcode, FLAG.FIN | FLAG.MASK)],
  ];
  for (const [what, violation] of violations) {
    const { client } = await RawClient.upgrade(server.port, "/echo");
    try {
      const valid = Frame.pack("valid", OPCODE.TEXT, FLAG.FIN | FLAG.MASK);
      const ping = Frame.pack("", OPCODE.PING, FLAG.FIN | FLAG.MASK);
      // One write: the runtime reads all three at once, as Autobahn's cases 3.x and 4.x send them.
      client.write(new Uint8Array([...valid, ...violation, ...ping]));
      const frames = await client.dataFramesUntilClose(5000);
      assert.deepEqual(
        frames.map((frame) => frame.data),
        ["valid"],
        `[${runtime}] the echo of the message before ${what}`,
      );
    } finally {
      client.destroy();
    }
  }
});

test(`[${runtime}] the idle timeout does not drop a talking peer while its handler is busy`, async () => {
  const busy = await startServer("fixtures/hostile.ts", {
    SETTINGS: JSON.stringify({ websocket_idle_timeout: 2, websocket_max_queue: 4 }),
  });
  try {
    const client = await open(`${busy.wsUrl}/late-reader?ms=4000`);
    // The handler reads nothing for 4 s: the queue fills and reading pauses, while the peer
    // keeps talking, so it is not silent.
    let sent = 0;
    const until = Date.now() + 5000;
    while (Date.now() < until) {
      await client.push(`message ${sent++}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await client.push("end");
    // On a close, message() names the code and reason the server closed with.
    const reply = await message(client).catch((error) => {
      throw new Error(`[${runtime}] ${error.message}`);
    });
    assert.equal(reply, `received ${sent}`, `[${runtime}] what the busy handler received`);
    client.close();
  } finally {
    busy.kill();
  }
});

test(`[${runtime}] a careless loop over closed results does not stall other connections`, async () => {
  const echo = await open(`${server.wsUrl}/echo`);
  const id = `careless-${nextId++}`;
  /** An echo, then whether the careless loop was still running once it had come back. */
  const echoWhileCareless = async () => {
    await echo.push("ping");
    assert.equal(await message(echo), "ping");
    const outcome = fetch(`${server.url}/outcome?id=${id}`).then((answer) => answer.json());
    return await within(outcome, 10_000, "the careless loop's outcome") === null;
  };
  try {
    await echoWhileCareless();
    const careless = await RawClient.upgrade(server.port, `/careless?ms=3000&id=${id}`);
    careless.client.destroy(); // Every push() and recv() in its loop now completes at once.
    // A loop that starved the event loop would hold every echo and request back until it
    // ended: none would come back while it ran. No time bound: a loaded machine is slow too.
    let during = 0;
    for (let tries = 0; tries < 10_000 && await echoWhileCareless(); tries++) during++;
    assert.ok(during >= 3, `[${runtime}] echoes and requests done while the loop ran: ${during}`);
    // The loop did spin on calls that completed at once, beyond one turn's budget (128).
    assert.ok(await resolvedTrue(id) > 1000, `[${runtime}] the careless loop's rounds`);
  } finally {
    echo.close();
  }
});

test(`[${runtime}] delivery: afterwards both servers are alive and hold no handler`, async () => {
  await assertServerSettled(server, "the delivery fixture");
  await assertServerSettled(roomy, "the fixture for slow peers");
});
