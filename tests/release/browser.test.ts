/**
 * The demo page in a real browser: headless Chromium (playwright-core) opens the page that
 * examples/echo.ts serves, on a node, a deno and a bun server in turn, and two pages talk
 * through it; Chromium negotiates compression; and the browser build of `coro-ws/client` runs
 * in a page against each server. Runs once, under node: it drives all three runtimes' servers
 * itself.
 */

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import type { Browser, Page } from "playwright-core";
import {
  assertServerSettled,
  runtime,
  runtimes,
  type ServerProcess,
  skipWithoutService,
  startServer,
} from "../helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
/** The bound on every wait: starting a server, and each thing the page must show. */
const WAIT = 10_000;

const chromiumMissing = existsSync(CHROMIUM) ? undefined : [
  "",
  "!".repeat(72),
  `!! tests/release/browser.test.ts SKIPPED: no Chromium at ${CHROMIUM}.`,
  "!! The demo page is NOT tested in a browser. Install it: apt-get install -y chromium",
  "!".repeat(72),
  "",
].join("\n");
const skip = runtime !== "node"
  ? "runs once, under node: it drives all three runtimes' servers itself"
  : skipWithoutService(chromiumMissing, `no Chromium at ${CHROMIUM}`) || undefined;
if (runtime !== "node") {
  console.log(`tests/release/browser.test.ts skipped under ${runtime}: ${skip}`);
}

/** Headless Chromium, with the flags this machine's closed network needs. */
async function launch(): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  return await chromium.launch({
    executablePath: CHROMIUM,
    timeout: WAIT,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Waits for a `#log` item of `kind` ("sent", "reply", "broadcast", "info") with `text`. */
function shows(page: Page, kind: string, text: string): Promise<void> {
  return page.locator(`#log li.${kind}`, { hasText: text }).waitFor({ timeout: WAIT });
}

test(`[browser] the demo page on coro-ws mounted into Express: replies and close`, {
  skip,
}, async () => {
  let host: ServerProcess | undefined;
  let browser: Browser | undefined;
  try {
    browser = await launch();
    host = await startServer("../examples/mount/express.ts");
    const page = await (await browser.newContext()).newPage();
    const errors: Error[] = [];
    page.on("pageerror", (error) => errors.push(error));
    page.setDefaultTimeout(WAIT);
    await page.goto(host.url);
    await page.locator("#state.open").waitFor();
    await page.fill("#message", "Ada");
    await page.press("#message", "Enter");
    await shows(page, "reply", "How are you, Ada?");
    assert.deepEqual(await page.locator("#log li.reply").allTextContents(), [
      "Hello Ada!",
      "How are you, Ada?",
    ]);
    await page.fill("#message", "close");
    await page.press("#message", "Enter");
    await page.locator("#state.closed").waitFor();
    assert.deepEqual(errors, []);
  } catch (error) {
    console.error(`examples/mount/express.ts printed:\n${host?.output()}`);
    throw error;
  } finally {
    await browser?.close();
    host?.kill();
  }
});

for (const server of runtimes) {
  test(`[browser] the demo page on a ${server} server: replies, broadcasts, state`, {
    skip,
  }, async () => {
    let echo: ServerProcess | undefined;
    let browser: Browser | undefined;
    const errors: Error[] = [];
    try {
      browser = await launch();
      echo = await startServer("../examples/echo.ts", {}, server);
      const url = echo.url;
      const [one, two] = await Promise.all([0, 1].map(async () => {
        const context = await browser!.newContext({ viewport: { width: 720, height: 640 } });
        context.setDefaultTimeout(WAIT);
        const page = await context.newPage();
        page.on("pageerror", (error) => errors.push(error));
        await page.goto(url);
        await page.locator("#state.open").waitFor();
        return page;
      }));
      // Page two's own reply proves its connection is registered for broadcasts.
      await two.fill("#message", "Grace");
      await two.press("#message", "Enter");
      await shows(two, "reply", "How are you, Grace?");

      await one.fill("#message", "Ada");
      await one.click("#send button");
      await shows(one, "sent", "Ada");
      await shows(one, "reply", "How are you, Ada?");
      assert.deepEqual(await one.locator("#log li.reply").allTextContents(), [
        "Hello Ada!",
        "How are you, Ada?",
      ]);
      await shows(two, "broadcast", "Ada");
      const heard = await two.locator("#log li.broadcast").allTextContents();
      assert.deepEqual(heard.map((line) => line.replace(/\d+/, "N")), [
        "visitor N: Grace",
        "visitor N: Ada",
      ]);
      if (process.env.DEMO_SCREENSHOT && server === "node") {
        await one.screenshot({ path: process.env.DEMO_SCREENSHOT });
      }

      // "close" closes; the page says so and reconnects on request.
      await one.fill("#message", "close");
      await one.press("#message", "Enter");
      await one.locator("#state.closed").waitFor();
      await one.click("#reconnect");
      await one.locator("#state.open").waitFor();
      assert.equal(await one.locator("#reconnect").isHidden(), true);
      assert.deepEqual(errors, []);
    } catch (error) {
      console.error(`examples/echo.ts on ${server} printed:\n${echo?.output()}`);
      throw error;
    } finally {
      await browser?.close();
      echo?.kill();
    }
  });
}

for (const server of runtimes) {
  test(`[browser] Chromium gets permessage-deflate from a ${server} server with compression on`, {
    skip,
  }, async () => {
    // Deno's own server cannot negotiate it: its ws engine can.
    const engine = server === "deno" ? "ws" : "native";
    const echo = await startServer("fixtures/compression.ts", {
      SETTINGS: JSON.stringify({ websocket_engine: engine }),
    }, server);
    const browser = await launch();
    try {
      const page = await browser.newPage();
      const result = await page.evaluate(async (url) => {
        const socket = new WebSocket(url);
        await new Promise((resolve, reject) => {
          socket.onopen = resolve;
          socket.onerror = () => reject(new Error("cannot connect"));
        });
        const message = JSON.stringify(Array.from({ length: 800 }, (_, id) => ({ id })));
        const echoed = new Promise<string>((resolve) => socket.onmessage = (e) => resolve(e.data));
        socket.send(message);
        const same = await echoed === message;
        socket.close(1000);
        return { extensions: socket.extensions, same };
      }, `${echo.wsUrl}/echo`);
      assert.match(result.extensions, /^permessage-deflate/);
      assert.equal(result.same, true);
    } finally {
      await browser.close();
      echo.kill();
    }
  });
}

/** The browser build of `coro-ws/client`, made once for the tests below. */
const clientBundle = skip ? "" : await buildClientBundle();

async function buildClientBundle(): Promise<string> {
  const { bundleForBrowser } = await import("../../scripts/browser_bundle.ts");
  const outfile = join(mkdtempSync(join(tmpdir(), "coro-ws-browser-")), "client.js");
  await bundleForBrowser("./src/client/mod.ts", outfile);
  return readFileSync(outfile, "utf8");
}

for (const server of runtimes) {
  test(`[browser] coro-ws's Client, browser build, in Chromium against a ${server} server`, {
    skip,
  }, async () => {
    const peer = await startServer("fixtures/client_peer.ts", {}, server);
    const browser = await launch();
    try {
      const page = await browser.newPage();
      const errors: Error[] = [];
      page.on("pageerror", (error) => errors.push(error));
      // The page's origin is the server's; the bundle is served beside it.
      await page.route(
        "**/coro-ws-client.js",
        (route) => route.fulfill({ body: clientBundle, contentType: "text/javascript" }),
      );
      await page.goto(`${peer.url}/stats`);
      const result = await page.evaluate(async (port) => {
        // The page's import, not the test's: typed as the client module it serves.
        const bundle = "/coro-ws-client.js";
        const { Client, CloseFrame, ERROR, OPCODE } = await import(
          bundle
        ) as typeof import("../../src/client/mod.ts");
        const data = (frame: unknown) => (frame as { data: unknown }).data;
        const client = new Client("127.0.0.1", port);
        const upgraded = await client.upgrade("/echo", ["chat.v1"]);
        await client.push("hello");
        const text = data(await client.recv(5));
        await client.push(new Uint8Array([1, 2, 3]), OPCODE.BINARY);
        const bytes = Array.from(data(await client.recv(5)) as Uint8Array);
        const timedOut = await client.recv(0.2) === false && client.errCode === ERROR.TIMEOUT;
        const answered = await client.disconnect();
        const afterwards = await client.recv();

        const withHeaders = new Client("127.0.0.1", port);
        withHeaders.setHeaders({ Authorization: "Bearer t0k3n" });
        const headersRefused = await withHeaders.upgrade("/echo") === false &&
          /cannot send headers/.test(withHeaders.errMsg);

        const bye = new Client("127.0.0.1", port);
        bye.set({ open_websocket_close_frame: true });
        await bye.upgrade("/bye");
        await bye.push("go");
        const close = await bye.recv(5);
        const closeFrame = close instanceof CloseFrame ? [close.code, close.reason] : String(close);

        const big = new Client("127.0.0.1", port);
        big.set({ package_max_length: 1024 });
        await big.upgrade("/big?size=4096");
        await big.push("go");
        const tooBig = [await big.recv(5), big.errCode];
        return {
          upgraded,
          protocol: client.protocol,
          text,
          bytes,
          timedOut,
          answered,
          afterwards,
          headersRefused,
          closeFrame,
          tooBig,
        };
      }, peer.port);
      assert.deepEqual(result, {
        upgraded: true,
        protocol: "chat.v1",
        text: "hello",
        bytes: [1, 2, 3],
        timedOut: true,
        answered: true,
        afterwards: "",
        headersRefused: true,
        closeFrame: [4001, "bye"],
        tooBig: ["", 1201],
      });
      assert.deepEqual(errors, []);
      await assertServerSettled(peer, `the browser's Client on a ${server} server`);
    } finally {
      await browser.close();
      peer.kill();
    }
  });
}
