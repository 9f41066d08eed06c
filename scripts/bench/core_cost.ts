/**
 * What the core's own JavaScript costs per echoed message, without a socket:
 * `<runtime> scripts/bench/core_cost.ts [--connections 100] [--inflight 16] [--turns 3000]`
 * (`node`, `bun`, or `deno run -A`). Each connection runs the seed echo handler (`recv()`, then
 * two `push()`es) over a link whose `send()` only reads the last unit of what it is given, as a
 * runtime flattening a string would; every turn delivers `--inflight` 32-byte messages to each
 * connection. Prints the process's CPU time (user and system) per round trip, which other load on
 * the machine changes far less than wall time: take the lowest of a few runs.
 */

import process from "node:process";
import { WebSocketConnection } from "../../src/core/connection.ts";
import { connectionContext } from "../../src/core/context.ts";
import { WebSocketEndpoint } from "../../src/core/endpoint.ts";
import type { WebSocketLink } from "../../src/core/link.ts";
import { DEFAULT_SETTINGS } from "../../src/core/settings.ts";
import { arg } from "./processes.ts";

const CONNECTIONS = Number(arg("connections", "100"));
const INFLIGHT = Number(arg("inflight", "16"));
const TURNS = Number(arg("turns", "3000"));

const context = connectionContext({
  runtime: "none",
  fragments: false,
  compression: false,
  pause: true,
  terminate: true,
  controlFrames: true,
  idleTimeout: true,
  reportsAbandonedHandshake: true,
}, { ...DEFAULT_SETTINGS });

let sent = 0;
/** What send() reads, kept so that the read is not optimised away. */
export let sink = 0;
const link: WebSocketLink = {
  send(data) {
    sent++;
    if (typeof data === "string") sink += data.charCodeAt(data.length - 1);
  },
  cork: () => true,
  flush() {},
  ping() {},
  pong() {},
  close() {},
  end() {},
  terminate() {},
  bufferedAmount: 0,
  requestDrain() {},
  pause() {},
  resume() {},
};

/** The endpoint a handler gets, on a bare connection. */
class End extends WebSocketEndpoint {
  constructor(connection: WebSocketConnection) {
    super();
    this.connection = connection;
  }
}

const connections = Array.from(
  { length: CONNECTIONS },
  (_, i) => new WebSocketConnection(i + 1, context, () => {}),
);
for (const connection of connections) {
  void connection.whenOpen();
  connection.receiveOpen(link);
  void echo(new End(connection));
}

/** The seed's echo handler, as scripts/bench/servers/coro.ts has it. */
async function echo(ws: End): Promise<void> {
  while (true) {
    const frame = await ws.recv();
    if (frame === "" || frame === false) break;
    if (typeof frame.data !== "string") continue;
    await ws.push(`Hello ${frame.data}!`);
    await ws.push(`How are you, ${frame.data}?`);
  }
}

const message = "x".repeat(32);
const start = process.cpuUsage();
let turns = 0;
function turn(): void {
  for (const connection of connections) {
    for (let i = 0; i < INFLIGHT; i++) connection.receiveMessage(message);
  }
  if (++turns < TURNS) {
    setImmediate(turn);
    return;
  }
  const { user, system } = process.cpuUsage(start);
  const roundTrips = TURNS * CONNECTIONS * INFLIGHT;
  console.log(
    `${((user + system) * 1000 / roundTrips).toFixed(0)} ns of CPU per round trip ` +
      `(${(sent / roundTrips).toFixed(2)} sends each)`,
  );
  process.exit(0);
}
turn();
