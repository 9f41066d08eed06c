#!/usr/bin/env node
/**
 * Checks that the npm package (package.json) and the JSR package (deno.json) offer the same
 * entry points, built from the same sources:
 *
 *   node scripts/check_exports.ts           # the manifests and the source files
 *   node scripts/check_exports.ts --dist    # also the built files in dist/ (after a build)
 *
 * For every entry point: deno.json `exports` names its source file, which must exist;
 * package.json `exports` has the same name with `types` and `import`/`default` in dist/ (the
 * bundle `dist/<name>.js` and the declarations tsc writes for the source), a `bun`
 * condition, if any, points at that same source, and a `browser` condition, if any, at the
 * browser bundle `dist/<name>.browser.js` (Deno gets no condition of its own: it will
 * not run TypeScript from node_modules, so from npm it runs dist/; JSR gives it the sources). Also: `files` ships dist/ and the sources, and
 * every npm package the code imports (`dependencies`, `peerDependencies`) is in the deno.json
 * `imports` map at the same version. Both manifests carry one version, which CHANGELOG.md has a
 * section for.
 *
 * Prints each problem and exits 1 if there is any. scripts/build.ts uses
 * {@link readEntryPoints} to know what to bundle.
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

/** One public entry point, as both manifests describe it. */
export interface EntryPoint {
  /** The export name: `"."` or `"./redis"`. */
  name: string;
  /** The TypeScript source, relative to the root: `"./mod.ts"`. */
  source: string;
  /** The bundle esbuild writes: `"./dist/mod.js"`. */
  js: string;
  /** The declarations tsc writes: `"./dist/mod.d.ts"`. */
  types: string;
  /** The browser bundle, for an entry point with a `browser` condition: `"./dist/client.browser.js"`. */
  browser?: string;
}

type Json = Record<string, unknown>;

function readJson(file: string): Json {
  return JSON.parse(readFileSync(join(ROOT, file), "utf8")) as Json;
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `./src/pubsub/redis.ts` -> `./dist/src/pubsub/redis.d.ts` (tsc's `rootDir` is the project root). */
function typesFor(source: string): string {
  return `./dist/${source.slice(2).replace(/\.ts$/, ".d.ts")}`;
}

/** `.` -> `./dist/mod.js`, `./redis` -> `./dist/redis.js` */
function bundleFor(name: string): string {
  return name === "." ? "./dist/mod.js" : `./dist/${name.slice(2)}.js`;
}

/**
 * The entry points deno.json exports, with the dist/ paths package.json should point at,
 * and every way the two manifests disagree.
 */
export function readEntryPoints(): { entries: EntryPoint[]; problems: string[] } {
  const problems: string[] = [];
  const pkg = readJson("package.json");
  const deno = readJson("deno.json");

  const denoExports: Json = typeof deno.exports === "string"
    ? { ".": deno.exports }
    : isObject(deno.exports)
    ? deno.exports
    : {};
  const pkgExports: Json = isObject(pkg.exports) ? pkg.exports : {};
  if (Object.keys(denoExports).length === 0) problems.push("deno.json: no `exports`");
  if (Object.keys(pkgExports).length === 0) problems.push("package.json: no `exports` object");

  const entries: EntryPoint[] = [];
  for (const [name, source] of Object.entries(denoExports)) {
    if (typeof source !== "string" || !source.startsWith("./") || !source.endsWith(".ts")) {
      problems.push(`deno.json: exports["${name}"] should be a "./....ts" path`);
      continue;
    }
    if (!existsSync(join(ROOT, source))) {
      problems.push(`deno.json: exports["${name}"] is ${source}, which does not exist`);
    }
    entries.push({ name, source, js: bundleFor(name), types: typesFor(source) });
  }

  for (const name of Object.keys(pkgExports)) {
    if (!(name in denoExports)) {
      problems.push(`package.json: exports["${name}"] is not in deno.json exports`);
    }
  }
  for (const entry of entries) {
    const conditions = pkgExports[entry.name];
    const where = `package.json: exports["${entry.name}"]`;
    if (conditions === undefined) {
      problems.push(`${where} is missing (deno.json exports it as ${entry.source})`);
      continue;
    }
    if (!isObject(conditions)) {
      problems.push(`${where} should be an object of conditions`);
      continue;
    }
    const keys = Object.keys(conditions);
    if (keys[0] !== "types") problems.push(`${where}: "types" should come first`);
    if (keys.at(-1) !== "default") problems.push(`${where}: "default" should come last`);
    if (
      keys.includes("bun") && keys.includes("import") &&
      keys.indexOf("bun") > keys.indexOf("import")
    ) {
      // Bun also matches "import": its own condition has to be seen first.
      problems.push(`${where}: "bun" should come before "import"`);
    }
    const expect = (condition: string, value: string, required: boolean) => {
      if (!(condition in conditions)) {
        if (required) problems.push(`${where}: no "${condition}" condition (want ${value})`);
      } else if (conditions[condition] !== value) {
        problems.push(
          `${where}["${condition}"] is ${JSON.stringify(conditions[condition])}, want ${value}`,
        );
      }
    };
    expect("types", entry.types, true);
    expect("import", entry.js, false);
    expect("default", entry.js, true);
    expect("bun", entry.source, false);
    if ("browser" in conditions) {
      entry.browser = entry.js.replace(/\.js$/, ".browser.js");
      expect("browser", entry.browser, true);
    }
    if ("deno" in conditions) {
      // Deno refuses TypeScript under node_modules (ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING):
      // from npm it runs dist/, and the sources come from JSR.
      problems.push(`${where}: no "deno" condition: Deno cannot run .ts from node_modules`);
    }
    for (const key of keys) {
      if (!["types", "browser", "bun", "deno", "import", "default"].includes(key)) {
        problems.push(`${where}: unexpected condition "${key}"`);
      }
    }
  }

  // Everything the entry points need must be in the npm package.
  const files = Array.isArray(pkg.files) ? pkg.files.map(String) : undefined;
  if (!files) {
    problems.push("package.json: no `files` list");
  } else {
    const shipped = (path: string) =>
      files.some((f) => {
        const pattern = f.replace(/^\.\//, "").replace(/\/$/, "");
        return path === pattern || path.startsWith(`${pattern}/`);
      });
    for (const path of ["dist", ...entries.map((e) => e.source.slice(2))]) {
      if (!shipped(path)) problems.push(`package.json: \`files\` does not ship ${path}`);
    }
  }

  // Every npm package the code imports, at the same version for Deno as for npm.
  const imports = isObject(deno.imports) ? deno.imports : {};
  const npmDeps: Json = {
    ...(isObject(pkg.dependencies) ? pkg.dependencies : {}),
    ...(isObject(pkg.peerDependencies) ? pkg.peerDependencies : {}),
  };
  const bare = (range: string) => range.replace(/^[\^~=v]+/, "");
  for (const [dep, range] of Object.entries(npmDeps)) {
    const mapped = imports[dep];
    const match = typeof mapped === "string" ? /^npm:(@?[^@]+)@(.+)$/.exec(mapped) : null;
    if (!match || match[1] !== dep) {
      problems.push(`deno.json: imports["${dep}"] should be "npm:${dep}@^${bare(String(range))}"`);
    } else if (bare(match[2]) !== bare(String(range))) {
      problems.push(
        `deno.json: imports["${dep}"] is ${mapped}, but package.json wants ${dep}@${range}`,
      );
    }
  }
  for (const [name, target] of Object.entries(imports)) {
    if (typeof target === "string" && target.startsWith("npm:") && !(name in npmDeps)) {
      problems.push(
        `deno.json: imports["${name}"] is ${target}, which package.json does not depend on`,
      );
    }
  }
  // One version for both packages, with its entry in the changelog.
  if (pkg.version !== deno.version) {
    problems.push(`package.json is version ${pkg.version}, deno.json ${deno.version}`);
  }
  const changelog = readFileSync(join(ROOT, "CHANGELOG.md"), "utf8");
  if (!changelog.includes(`\n## ${pkg.version} `)) {
    problems.push(`CHANGELOG.md: no "## ${pkg.version}" section`);
  }
  return { entries, problems };
}

/** The built files each entry point needs; empty when they are all there. */
export function missingBuildOutputs(entries: EntryPoint[]): string[] {
  return entries.flatMap((e) => [e.js, `${e.js}.map`, e.types, ...(e.browser ? [e.browser] : [])])
    .filter((file) => !existsSync(join(ROOT, file)));
}

function main(): number {
  const { entries, problems } = readEntryPoints();
  if (process.argv.includes("--dist")) {
    for (const file of missingBuildOutputs(entries)) problems.push(`${file} was not built`);
  }
  for (const problem of problems) console.error(`check_exports: ${problem}`);
  if (problems.length > 0) return 1;
  console.log(
    `check_exports: ok, ${entries.length} entry points: ` +
      entries.map((e) => `${e.name} -> ${e.source}`).join(", "),
  );
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main();
}
