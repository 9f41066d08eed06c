/**
 * The benchmark protocol as crossws hooks, shared by the crossws servers on every runtime:
 * paths are told apart by `peer.namespace` (the request path by default). `/websocket`
 * answers each text message with two replies, `/broadcast` loops over a Set, `/publish` uses
 * crossws's pub/sub (`peer.subscribe()` and `peer.publish()`) plus a `peer.send()` to the
 * sender, which `peer.publish()` skips.
 */

import type { Hooks, Peer } from "crossws";

const listeners = new Set<Peer>();

export const hooks: Partial<Hooks> = {
  open(peer) {
    if (peer.namespace === "/broadcast") listeners.add(peer);
    else if (peer.namespace === "/publish") peer.subscribe("all");
  },
  close(peer) {
    listeners.delete(peer);
  },
  message(peer, message) {
    if (typeof message.rawData !== "string") return; // text arrives as a string
    const text = message.text();
    if (peer.namespace === "/websocket") {
      peer.send(`Hello ${text}!`);
      peer.send(`How are you, ${text}?`);
    } else if (peer.namespace === "/publish") {
      const out = `Server：${text}`;
      peer.publish("all", out);
      peer.send(out);
    } else {
      const out = `Server：${text}`;
      for (const listener of listeners) listener.send(out);
    }
  },
};
