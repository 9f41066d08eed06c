/**
 * The web-platform globals the runtime-free core (src/core) may use: every runtime and every
 * browser has them. tsconfig.core.json type-checks the core with these and the ES library
 * only, so a use of a Node, Deno or Bun API in src/core fails the check.
 */

declare function setTimeout(
  callback: (...args: never[]) => void,
  ms?: number,
  ...args: unknown[]
): unknown;
declare function clearTimeout(handle: unknown): void;
declare function setInterval(callback: () => void, ms?: number): unknown;
declare function clearInterval(handle: unknown): void;

declare class TextEncoder {
  encode(input?: string): Uint8Array<ArrayBuffer>;
  encodeInto(source: string, destination: Uint8Array): { read: number; written: number };
}

declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
  decode(input?: ArrayBufferView | ArrayBuffer): string;
}

declare const crypto: { getRandomValues<T extends ArrayBufferView>(array: T): T };

declare const console: {
  info(...data: unknown[]): void;
  warn(...data: unknown[]): void;
  error(...data: unknown[]): void;
};

declare const performance: { now(): number };
