/**
 * What the connections of one server (or one client) share: the runtime's capabilities, the
 * settings, the counters, the clock, the idle watch and the per-turn send batch.
 *
 * @module
 */

import { SendBatch } from "./batch.ts";
import { type Clock, SYSTEM_CLOCK } from "./clock.ts";
import type { FailureRecord } from "./errors.ts";
import { IdleWatch } from "./idle.ts";
import type { RuntimeCapabilities } from "./link.ts";
import { Observer } from "./observer.ts";
import type { Traffic } from "./observer.ts";
import type { ResolvedSettings } from "./settings.ts";

/** The connection, as its inbound queue and outbound side see it. */
export interface ConnectionOwner {
  /** Counted for the access log, if it is on. */
  readonly traffic: Traffic | undefined;
  /** The connection's last failure, which the handler reads as `errCode` and `errMsg`. */
  readonly failure: FailureRecord;
}

/** What every connection of one server or client reads; made once by {@link connectionContext}. */
export interface ConnectionContext {
  readonly capabilities: RuntimeCapabilities;
  readonly settings: ResolvedSettings;
  /** Counts traffic for the metrics (and, with the access log on, per connection). */
  readonly observer: Observer;
  readonly clock: Clock;
  readonly idleWatch: IdleWatch;
  readonly sendBatch: SendBatch;
}

/** A context for connections over a runtime with `capabilities`, on the runtime's timers unless told. */
export function connectionContext(
  capabilities: RuntimeCapabilities,
  settings: ResolvedSettings,
  observer: Observer = new Observer(),
  clock: Clock = SYSTEM_CLOCK,
): ConnectionContext {
  return {
    capabilities,
    settings,
    observer,
    clock,
    idleWatch: new IdleWatch(clock, capabilities.controlFrames),
    sendBatch: new SendBatch(),
  };
}
