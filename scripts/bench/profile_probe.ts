/**
 * Preloaded by profile.ts into a benchmark server under Bun (`bun --preload`): Bun writes its
 * `--cpu-prof` profile only when the process exits on its own, so SIGUSR2 makes it exit.
 */

import process from "node:process";

process.on("SIGUSR2", () => process.exit(0));
