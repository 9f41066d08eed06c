/**
 * The browser build of an entry point (for `coro-ws/client`): one ESM file for browsers, with
 * the client's adapter choice replaced by the browser's (src/client/adapter_browser.ts), so no
 * Node code is in it. esbuild refuses a `node:` import for the browser: a core change that
 * brought one in fails the build. scripts/build.ts writes it to dist/; tests/release/browser.test.ts
 * runs it in Chromium.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { build, type Plugin } from "esbuild";
import { ROOT } from "./deno_types.ts";

/** Swaps src/client/adapter.ts for adapter_browser.ts where the client imports it. */
const browserAdapter: Plugin = {
  name: "coro-ws-browser-adapter",
  setup(bundle) {
    bundle.onResolve({ filter: /^\.\/adapter\.ts$/ }, (args) => ({
      path: join(dirname(args.importer), "adapter_browser.ts"),
    }));
  },
};

/** Bundles `source` (relative to the root, e.g. "./src/client/mod.ts") for browsers. */
export async function bundleForBrowser(source: string, outfile: string): Promise<void> {
  await build({
    absWorkingDir: ROOT,
    entryPoints: [source],
    outfile,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    sourcemap: true,
    keepNames: true,
    plugins: [browserAdapter],
    logLevel: "warning",
  });
}
