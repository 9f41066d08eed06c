/**
 * The benchmark protocol as crossws hooks, shared by the crossws servers on every runtime:
 * paths are told apart by `peer.namespace` (the request path by default). `/websocket`
 * answers each text message with two replies, `/broadcast` loops over a Set (no pub/sub).
 */

import type { Hooks, Peer } from "crossws";

const listeners = new Set<Peer>();

export const hooks: Partial<Hooks> = {
  open(peer) {
    if (peer.namespace === "/broadcast") listeners.add(peer);
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
    } else {
      const out = `Server：${text}`;
      for (const listener of listeners) listener.send(out);
    }
  },
};
