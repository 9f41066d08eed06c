/**
 * The Swoole manual's coroutine WebSocket client example: upgrade, then push and recv in a
 * loop. Against examples/echo.ts each "hello" brings "Hello hello!", "How are you, hello?" and
 * the echo's broadcast of it.
 *
 * Run the echo server first (`npm start`), then: `npx node examples/client.ts`,
 * `npx deno run --allow-net --allow-env examples/client.ts` or `npx bun examples/client.ts`
 * (HOST, PORT and COUNT, the number of rounds, from the environment).
 */

import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";
import { Client } from "../mod.ts";

const client = new Client(process.env.HOST ?? "127.0.0.1", Number(process.env.PORT ?? 9502));
if (await client.upgrade("/websocket")) {
  for (let round = 0; round < Number(process.env.COUNT ?? 5); round++) {
    await client.push("hello");
    // Everything the server says, until it has been quiet for 100 ms.
    for (let frame = await client.recv(5); frame !== false; frame = await client.recv(0.1)) {
      if (frame === "") {
        console.log("closed by the server");
        process.exit(1);
      }
      console.log(frame.data);
    }
    await sleep(100);
  }
  await client.disconnect();
} else {
  console.log(`upgrade failed: ${client.statusCode} ${client.errCode} ${client.errMsg}`);
  process.exitCode = 1;
}
