#!/usr/bin/env node
/**
 * Writes docs/reference/errors.md, the table of every `errCode` (the `ERROR` constants) with what it means
 * and the modules that set it, from the source itself, so the table cannot drift from the code.
 *
 *   node scripts/error_table.ts           # write docs/reference/errors.md
 *   node scripts/error_table.ts --check   # fail if docs/reference/errors.md is stale or a code is unset
 */

import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { ERROR } from "../src/core/constants.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CONSTANTS = join(ROOT, "src/core/constants.ts");
const OUTPUT = join(ROOT, "docs/reference/errors.md");

/** Every .ts file under `dir`, recursively. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? sources(path) : entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** Each `ERROR` key's JSDoc, as one line. */
function meanings(): Map<string, string> {
  const text = readFileSync(CONSTANTS, "utf8");
  const block = text.slice(text.indexOf("export const ERROR = {"));
  const found = new Map<string, string>();
  for (const match of block.matchAll(/\/\*\*([\s\S]*?)\*\/\s*\n\s*(\w+):/g)) {
    found.set(match[2], match[1].replace(/\n\s*\*\s?/g, " ").trim());
  }
  return found;
}

/** The modules (paths under src/) that use `ERROR.<name>`, other than where it is defined. */
function setters(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of sources(join(ROOT, "src"))) {
    if (file === CONSTANTS) continue;
    // Code, not the examples in comments.
    const text = readFileSync(file, "utf8").split("\n")
      .filter((line) => !/^\s*(\*|\/\/)/.test(line)).join("\n");
    for (const match of text.matchAll(/\bERROR\.([A-Z_]+)\b/g)) {
      const list = found.get(match[1]) ?? [];
      const path = relative(ROOT, file);
      if (!list.includes(path)) list.push(path);
      found.set(match[1], list);
    }
  }
  return found;
}

/** `text` in lines of at most 100 characters, as `deno fmt` wraps Markdown prose. */
function wrap(text: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > 100) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  return [...lines, line];
}

/** One narrow table of every code, each linking to its section below. */
function index(): string[] {
  const rows = Object.entries(ERROR).map(([name, code]) => {
    const anchor = `${code}-${name.toLowerCase()}`;
    return [`[${code}](#${anchor})`, `\`${name}\``];
  });
  const widths = [0, 1].map((i) => Math.max(...rows.map((row) => row[i].length), 7));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [
    line(["errCode", "name"]),
    `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`,
    ...rows.map(line),
  ];
}

function table(): { text: string; unset: string[] } {
  const meaning = meanings();
  const setBy = setters();
  const unset: string[] = [];
  const sections = Object.entries(ERROR).flatMap(([name, code]) => {
    const files = (setBy.get(name) ?? []).sort();
    if (code !== ERROR.NONE && files.length === 0) unset.push(name);
    const where = files.map((file) => `\`${file}\``).join(", ") || "nothing";
    return [
      `## ${code} \`${name}\``,
      "",
      ...wrap(meaning.get(name) ?? ""),
      "",
      ...wrap(`Set in: ${where}.`),
      "",
    ];
  });
  const text = [
    "# Error codes",
    "",
    "What `errCode` (on a `Response` or a `Client`) and `lastError()` report: Swoole's numbers (errno",
    "values for socket errors, `SWOOLE_ERROR_*` for the rest). Generated from `ERROR` in",
    "`src/core/constants.ts` and the modules that use each code by `node scripts/error_table.ts`;",
    "`npm test` fails when this page is stale or a code is set nowhere.",
    "",
    ...index(),
    "",
    ...sections,
  ].join("\n");
  return { text, unset };
}

const { text, unset } = table();
if (process.argv.includes("--check")) {
  const problems: string[] = [];
  let current = "";
  try {
    current = readFileSync(OUTPUT, "utf8");
  } catch {
    // Missing: stale.
  }
  if (current !== text) {
    problems.push("docs/reference/errors.md is stale: run node scripts/error_table.ts");
  }
  if (unset.length > 0) problems.push(`documented codes that nothing sets: ${unset.join(", ")}`);
  for (const problem of problems) console.error(`error_table: ${problem}`);
  if (problems.length === 0) console.log("error_table: ok");
  process.exitCode = problems.length > 0 ? 1 : 0;
} else {
  writeFileSync(OUTPUT, text);
  console.log(`error_table: wrote ${relative(ROOT, OUTPUT)}`);
}
