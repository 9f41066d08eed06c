#!/usr/bin/env node
/**
 * Writes docs/reference/api.md, the API reference, from the JSDoc of the three entry points
 * (`coro-ws`, `coro-ws/client`, `coro-ws/redis`) as `deno doc --json` reads it, so the reference
 * is never kept by hand and cannot drift from the code.
 *
 *   node scripts/reference.ts           # write docs/reference/api.md
 *   node scripts/reference.ts --check   # fail if docs/reference/api.md is stale
 *
 * Locations are given by file, without line numbers, so moving code inside a file leaves the
 * page as it is; a changed signature, JSDoc or export changes it.
 */

import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const OUTPUT = join(ROOT, "docs/reference/api.md");
/** Each entry point: what users import, and its file. */
const ENTRIES: { specifier: string; file: string }[] = [
  { specifier: "coro-ws", file: "mod.ts" },
  { specifier: "coro-ws/client", file: "src/client/mod.ts" },
  { specifier: "coro-ws/redis", file: "src/pubsub/redis.ts" },
];

// The shapes of `deno doc --json` (version 2) that this page reads; the rest is ignored.
interface Tag {
  kind: string;
  name?: string;
  doc?: string;
  type?: string;
}
interface JsDoc {
  doc?: string;
  tags?: Tag[];
}
interface TsType {
  repr?: string;
  kind: string;
  // deno-lint-ignore no-explicit-any
  value?: any;
}
interface Param {
  kind: string;
  name?: string;
  optional?: boolean;
  tsType?: TsType;
  left?: Param;
  right?: string;
  arg?: Param;
}
interface FunctionDef {
  params?: Param[];
  returnType?: TsType;
  typeParams?: { name: string; constraint?: TsType; default?: TsType }[];
  isAsync?: boolean;
}
interface Member {
  name: string;
  kind?: string;
  location?: { filename: string };
  jsDoc?: JsDoc;
  tsType?: TsType;
  optional?: boolean;
  readonly?: boolean;
  isStatic?: boolean;
  accessibility?: string;
  params?: Param[];
  returnType?: TsType;
  functionDef?: FunctionDef;
  typeParams?: FunctionDef["typeParams"];
}
interface Declaration {
  location: { filename: string };
  kind: string;
  jsDoc?: JsDoc;
  // deno-lint-ignore no-explicit-any
  def?: any;
}
interface Symbol {
  name: string;
  declarations: Declaration[];
}
interface DocModule {
  module_doc?: JsDoc;
  symbols: Symbol[];
}

/** A type as TypeScript source. */
function type(t: TsType | undefined): string {
  if (!t) return "unknown";
  const v = t.value;
  switch (t.kind) {
    case "keyword":
      return String(v);
    case "typeRef": {
      const params = v.typeParams?.length ? `<${v.typeParams.map(type).join(", ")}>` : "";
      return `${v.typeName}${params}`;
    }
    case "literal":
      if (v.kind === "string") return JSON.stringify(v.string);
      if (v.kind === "number") return String(v.number);
      if (v.kind === "boolean") return String(v.boolean);
      if (v.kind === "bigInt") return `${v.string}n`;
      if (v.kind === "template") return t.repr ?? "string";
      return t.repr ?? "unknown";
    case "union":
      return v.map(type).join(" | ");
    case "intersection":
      return v.map(type).join(" & ");
    case "array":
      return `${/[|&(]/.test(type(v)) ? `(${type(v)})` : type(v)}[]`;
    case "tuple":
      return `[${v.map(type).join(", ")}]`;
    case "parenthesized":
      return `(${type(v)})`;
    case "rest":
      return `...${type(v)}`;
    case "optional":
      return `${type(v)}?`;
    case "typeOperator":
      return `${v.operator} ${type(v.tsType)}`;
    case "typeQuery":
      return `typeof ${typeof v === "string" ? v : t.repr}`;
    case "indexedAccess":
      return `${type(v.objType)}[${type(v.indexType)}]`;
    case "fnOrConstructor":
      return `${v.constructor ? "new " : ""}(${params(v.params)}) => ${type(v.tsType)}`;
    case "typeLiteral":
      return typeLiteral(v);
    case "this":
      return "this";
    case "typePredicate":
      return `${v.asserts ? "asserts " : ""}${v.param?.name ?? "this"}${
        v.type ? ` is ${type(v.type)}` : ""
      }`;
    case "conditional":
      return `${type(v.checkType)} extends ${type(v.extendsType)} ? ${type(v.trueType)} : ${
        type(v.falseType)
      }`;
    case "mapped":
      return t.repr || "{ [key]: … }";
    case "importType":
      return `import(${JSON.stringify(v.specifier)})${v.qualifier ? `.${v.qualifier}` : ""}`;
    default:
      return t.repr || "unknown";
  }
}

function typeLiteral(v: { properties?: Member[]; methods?: Member[] }): string {
  const parts = [
    ...(v.properties ?? []).map((p) =>
      `${p.readonly ? "readonly " : ""}${p.name}${p.optional ? "?" : ""}: ${type(p.tsType)}`
    ),
    ...(v.methods ?? []).map((m) => `${m.name}(${params(m.params)}): ${type(m.returnType)}`),
  ];
  return parts.length === 0 ? "{}" : `{ ${parts.join("; ")} }`;
}

function param(p: Param): string {
  switch (p.kind) {
    case "identifier":
      return `${p.name}${p.optional ? "?" : ""}${p.tsType ? `: ${type(p.tsType)}` : ""}`;
    case "assign":
      // deno doc gives an empty string's default as "".
      return `${param(p.left!)} = ${p.right || '""'}`;
    case "rest":
      return `...${param(p.arg!)}${p.tsType ? `: ${type(p.tsType)}` : ""}`;
    default:
      return p.name ?? p.kind;
  }
}

function params(list: Param[] | undefined): string {
  return (list ?? []).map(param).join(", ");
}

function typeParams(list: FunctionDef["typeParams"]): string {
  if (!list?.length) return "";
  return `<${
    list.map((t) =>
      `${t.name}${t.constraint ? ` extends ${type(t.constraint)}` : ""}${
        t.default ? ` = ${type(t.default)}` : ""
      }`
    ).join(", ")
  }>`;
}

/** The names each entry point exports, filled in by render(). */
const EXPORTS = new Map<string, Set<string>>();

/**
 * Examples import by relative path from their own file (`from`); here they import what a user
 * would: the entry point that exports every name imported, else the file from this page.
 */
function example(code: string, from: string): string {
  return code.replace(
    /import\s*(type\s*)?\{([^}]*)\}\s*from\s*"(\.\.?\/[^"]*)"/g,
    (whole, _type, names: string, path: string) => {
      const target = relative(ROOT, resolve(dirname(from), path)).split("\\").join("/");
      const entry = ENTRIES.find((e) => e.file === target);
      const wanted = names.split(",").map((n) =>
        n.trim().replace(/^type\s+/, "").split(/\s+as\s+/)[0]
      )
        .filter(Boolean);
      const exporter = entry ??
        ENTRIES.find((e) => wanted.every((n) => EXPORTS.get(e.specifier)?.has(n)));
      const specifier = exporter?.specifier ??
        relative(dirname(OUTPUT), join(ROOT, target)).split("\\").join("/");
      return whole.replace(`"${path}"`, `"${specifier}"`);
    },
  );
}

/** JSDoc text as Markdown: `{@link X}` and `{@link X | label}` become code spans. */
function text(doc: string): string {
  return doc.replace(
    /\{@link(?:code|plain)?\s+([^}|\s]+)\s*(?:\|\s*([^}]+?))?\s*\}/g,
    (_, target: string, label?: string) => `\`${label ?? target}\``,
  );
}

/** A JSDoc block as Markdown: the text, then parameters, returns, throws and examples. */
function jsDoc(doc: JsDoc | undefined, from: string, headingLevel: number): string[] {
  if (!doc) return [];
  const out: string[] = [];
  if (doc.doc?.trim()) out.push(text(doc.doc.trim()), "");
  const tags = doc.tags ?? [];
  const items = tags.flatMap((tag) => {
    const doc = text((tag.doc ?? "").trim()).replace(/\n/g, "\n  ");
    if (tag.kind === "param") return [`- \`${tag.name}\`: ${doc}`];
    if (tag.kind === "return") return [`- returns: ${doc}`];
    if (tag.kind === "throws") return [`- throws${tag.type ? ` \`${tag.type}\`` : ""}: ${doc}`];
    if (tag.kind === "deprecated") return [`- deprecated: ${doc}`];
    return [];
  });
  if (items.length) out.push(...items, "");
  for (const tag of tags.filter((tag) => tag.kind === "example")) {
    const code = example((tag.doc ?? "").trim(), from);
    const fence = code.indexOf("```");
    const title = (fence === -1 ? "" : code.slice(0, fence)).trim();
    out.push(`${"#".repeat(headingLevel)} Example${title ? `: ${title}` : ""}`, "");
    out.push(fence === -1 ? code : code.slice(fence), "");
  }
  return out;
}

function modifiers(m: Member): string {
  return [
    m.accessibility && m.accessibility !== "public" ? m.accessibility : "",
    m.isStatic ? "static" : "",
    m.readonly ? "readonly" : "",
  ].filter(Boolean).map((s) => `${s} `).join("");
}

/** One member of a class or interface as a signature. */
function memberSignature(m: Member, owner: string): string {
  const fn = m.functionDef ?? m;
  if (m.kind === "getter") return `get ${m.name}(): ${type(fn.returnType)}`;
  if (m.kind === "setter") return `set ${m.name}(${params(fn.params)})`;
  if (m.kind === "method" || m.functionDef || (m.params && !m.tsType)) {
    return `${modifiers(m)}${m.name}${typeParams(fn.typeParams)}(${params(fn.params)}): ${
      type(fn.returnType)
    }`;
  }
  if (m.name === "constructor") return `new ${owner}(${params(m.params)})`;
  return `${modifiers(m)}${m.name}${m.optional ? "?" : ""}: ${type(m.tsType)}`;
}

function members(
  def: {
    constructors?: Member[];
    properties?: Member[];
    methods?: Member[];
    callSignatures?: Member[];
    indexSignatures?: Member[];
  },
  owner: string,
  from: string,
): string[] {
  const list = [
    ...(def.constructors ?? []).map((c) => ({ ...c, name: "constructor" })),
    ...(def.properties ?? []),
    ...(def.methods ?? []),
  ].filter((m) => m.accessibility !== "private" && !m.name.startsWith("#"));
  return list.flatMap((m) => {
    const signature = m.name === "constructor"
      ? `new ${owner}(${params(m.params)})`
      : memberSignature(m, owner);
    return [
      `#### \`${signature}\``,
      "",
      ...jsDoc(m.jsDoc, m.location ? fileURLToPath(m.location.filename) : from, 5),
    ];
  });
}

/** The declaration's headline as TypeScript. */
function headline(name: string, d: Declaration): string {
  const def = d.def ?? {};
  switch (d.kind) {
    case "class": {
      const ext = def.extends ? ` extends ${def.extends}` : "";
      const impl = def.implements?.length
        ? ` implements ${def.implements.map(type).join(", ")}`
        : "";
      return `${def.isAbstract ? "abstract " : ""}class ${name}${
        typeParams(def.typeParams)
      }${ext}${impl}`;
    }
    case "interface": {
      const ext = def.extends?.length ? ` extends ${def.extends.map(type).join(", ")}` : "";
      return `interface ${name}${typeParams(def.typeParams)}${ext}`;
    }
    case "typeAlias":
      return `type ${name}${typeParams(def.typeParams)} = ${type(def.tsType)}`;
    case "function":
      return `function ${name}${typeParams(def.typeParams)}(${params(def.params)}): ${
        type(def.returnType)
      }`;
    case "variable":
      return `${def.kind ?? "const"} ${name}: ${type(def.tsType)}`;
    case "enum":
      return `enum ${name}`;
    case "namespace":
      return `namespace ${name}`;
    default:
      return `${d.kind} ${name}`;
  }
}

function anchor(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9 _-]/g, "").replace(/ /g, "-");
}

function deno(): string {
  const local = join(ROOT, "node_modules", ".bin", "deno");
  return existsSync(local) ? local : "deno";
}

function render(): string {
  const json = execFileSync(deno(), ["doc", "--json", ...ENTRIES.map((e) => e.file)], {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    stdio: ["ignore", "pipe", "ignore"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  const nodes: Record<string, DocModule> = JSON.parse(json).nodes;
  for (const entry of ENTRIES) {
    const names = nodes[pathToFileURL(join(ROOT, entry.file)).href]?.symbols.map((s) => s.name);
    EXPORTS.set(entry.specifier, new Set(names));
  }
  const seen = new Map<string, string>(); // symbol name -> the entry point that documents it
  const out = [
    "# API reference",
    "",
    "Every export of the three entry points, with its JSDoc. Generated by",
    "`node scripts/reference.ts` from the source (`deno doc --json`); `npm test -- --only=reference`",
    "fails when this page is stale. The examples are the JSDoc's own, which",
    "`npm test -- --only=doctest` runs.",
    "",
    ...ENTRIES.map((e) => `- [\`${e.specifier}\`](#${anchor(e.specifier)}) (\`${e.file}\`)`),
    "",
  ];
  for (const entry of ENTRIES) {
    const module = nodes[pathToFileURL(join(ROOT, entry.file)).href];
    if (!module) throw new Error(`deno doc gave nothing for ${entry.file}`);
    out.push(`## ${entry.specifier}`, "");
    const moduleDoc = module.module_doc;
    if (moduleDoc?.doc?.trim()) out.push(text(moduleDoc.doc.trim()), "");
    const again = module.symbols.filter((s) => seen.has(s.name));
    const own = module.symbols.filter((s) => !seen.has(s.name));
    if (again.length) {
      out.push(
        `Also exported here, documented under \`${seen.get(again[0].name)}\`: ${
          again.map((s) => `[\`${s.name}\`](#${anchor(s.name)})`).join(", ")
        }.`,
        "",
      );
    }
    for (const symbol of own) {
      seen.set(symbol.name, entry.specifier);
      out.push(`### ${symbol.name}`, "");
      for (const d of symbol.declarations.filter((d) => d.kind !== "reference")) {
        const file = relative(ROOT, fileURLToPath(d.location.filename)).split("\\").join("/");
        out.push(
          "```ts ignore",
          headline(symbol.name, d),
          "```",
          "",
          `Defined in \`${file}\`.`,
          "",
        );
        const from = fileURLToPath(d.location.filename);
        out.push(...jsDoc(d.jsDoc, from, 4));
        if (d.kind === "class" || d.kind === "interface") {
          out.push(...members(d.def ?? {}, symbol.name, from));
        }
        if (d.kind === "variable" && d.def?.tsType?.kind === "typeLiteral") {
          for (const p of d.def.tsType.value.properties ?? []) {
            out.push(`- \`${p.name}\`: ${text((p.jsDoc?.doc ?? "").trim()).replace(/\n/g, " ")}`);
          }
          out.push("");
        }
      }
    }
  }
  // As deno fmt writes Markdown, so formatting the docs leaves the page fresh.
  return execFileSync(deno(), ["fmt", "--ext=md", "-"], {
    cwd: ROOT,
    input: out.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd() + "\n",
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
}

const page = render();
if (process.argv.includes("--check")) {
  const current = existsSync(OUTPUT) ? readFileSync(OUTPUT, "utf8") : "";
  if (current !== page) {
    console.error(
      "reference: docs/reference/api.md is stale (an export or its JSDoc changed): " +
        "run node scripts/reference.ts",
    );
    process.exitCode = 1;
  } else {
    console.log("reference: ok");
  }
} else {
  writeFileSync(OUTPUT, page);
  console.log(`reference: wrote ${relative(ROOT, OUTPUT)}`);
}
