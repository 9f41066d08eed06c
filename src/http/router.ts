/**
 * Routing: a case-insensitive prefix match on the path, where the longest pattern wins.
 *
 * @module
 */

/**
 * Patterns and what they lead to. Swoole leaves overlapping patterns unspecified; here the
 * longest matching one wins, so the order of `handle()` calls never matters.
 */
export class Router<T> {
  /** Lower-cased patterns, longest first. */
  #routes: { pattern: string; target: T }[] = [];

  /** Adds or replaces the target for `pattern`. */
  add(pattern: string, target: T): void {
    if (typeof pattern !== "string" || !pattern.startsWith("/") || /[?#]/.test(pattern)) {
      throw new TypeError(
        `Cannot handle(${JSON.stringify(pattern) ?? String(pattern)}): pass a path that starts ` +
          `with "/" and has no query or fragment, e.g. "/chat"`,
      );
    }
    const key = pattern.toLowerCase();
    this.#routes = this.#routes.filter((route) => route.pattern !== key);
    this.#routes.push({ pattern: key, target });
    this.#routes.sort((a, b) => b.pattern.length - a.pattern.length);
  }

  /** The target of the longest pattern that `path` starts with, ignoring case. */
  match(path: string): T | undefined {
    const key = path.toLowerCase();
    return this.#routes.find((route) => key.startsWith(route.pattern))?.target;
  }
}
