/**
 * examples/app.ts, the production-shaped chat, on every runtime over real sockets: a login
 * refused with 401 after an await, a room, metrics, and each ending as its handler logs it
 * from the public API (the peer's Close, 1009 for a message too large, the idle timeout, a
 * shutdown), then the program's cleanup before the exit.
 */

import assert from "node:assert/strict";
import process from "node:process";
import { test } from "node:test";
import { CLOSE, ERROR, FLAG, Frame, OPCODE } from "../../mod.ts";
import { closeOf, message, open, runtime, startServer, within } from "../helpers.ts";
import { RawClient } from "../raw_client.ts";

const app = await startServer("../examples/app.ts", { IDLE_TIMEOUT: "1" });

/** The line the handler printed for `pattern`; fails after a generous wait. */
async function logged(pattern: RegExp): Promise<string> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    const line = app.output().split("\n").find((candidate) => pattern.test(candidate));
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail(`[${runtime}] nothing logged matching ${pattern}:\n${app.output()}`);
}

test(`[${runtime}] app: a wrong token gets 401 after the lookup, and never a WebSocket`, async () => {
  const { client, answer } = await RawClient.upgrade(app.port, "/chat?token=nope");
  assert.equal(answer.status, 401);
  assert.equal(answer.body, "log in first\n");
  client.destroy();
});

test(`[${runtime}] app: a room, the peer's close and 1009, each ending logged`, async () => {
  const alice = await open(`${app.wsUrl}/chat?token=alice-token&room=r`);
  const bob = await open(`${app.wsUrl}/chat?token=bob-token&room=r`);
  await alice.push("hi");
  assert.equal(await message(alice), "alice: hi");
  assert.equal(await message(bob), "alice: hi");

  await alice.disconnect(4001, "going home");
  assert.match(await logged(/^ending alice code=4001/), /closedBy=peer/);

  const { client } = await RawClient.upgrade(app.port, "/chat?token=bob-token&room=r");
  client.write(Frame.pack(new Uint8Array(70 * 1024), OPCODE.BINARY, FLAG.FIN | FLAG.MASK));
  assert.equal(await client.closeCode(), CLOSE.MESSAGE_TOO_BIG);
  client.destroy();
  assert.match(
    await logged(/^ending bob code=1009/),
    new RegExp(`closedBy=rule errCode=${ERROR.PACKAGE_LENGTH_TOO_LARGE}`),
  );
  await bob.close();
});

test(`[${runtime}] app: a silent peer is dropped by the heartbeat, and the handler knows why`, {
  skip: runtime === "node" ? false : `${runtime}'s own engine drops an idle peer itself and ` +
    "reports it as the peer's close (docs/reference/runtimes.md)",
}, async () => {
  // A raw client answers no ping.
  const { client } = await RawClient.upgrade(app.port, "/chat?token=alice-token&room=quiet");
  assert.match(
    await logged(/^ending alice code=\d+ closedBy=timeout/),
    new RegExp(`errCode=${ERROR.TIMEOUT}`),
  );
  client.destroy();
});

test(`[${runtime}] app: metrics, then a graceful stop with the program's cleanup`, async () => {
  const metrics = await (await fetch(`${app.url}/metrics`)).text();
  assert.match(metrics, /^coro_ws_websocket_messages_received_total \d+$/m);
  const carol = await open(`${app.wsUrl}/chat?token=bob-token&room=last`);
  await carol.push("still here");
  assert.equal(await message(carol), "bob: still here");
  process.kill(app.pid, "SIGTERM");
  assert.equal((await closeOf(carol)).code, CLOSE.GOING_AWAY);
  assert.equal(await within(app.exited, 10_000, "the exit"), 0, app.output());
  assert.match(app.output(), /^ending bob code=1001 closedBy=self/m);
  assert.match(app.output(), /^cleanup: \d+ messages relayed$/m);
});
