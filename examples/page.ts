/**
 * The demo page the examples serve: connect, send, and see replies and broadcasts live, with
 * the connection's state and a reconnect button. One self-contained file: no external
 * resources.
 *
 * A message that starts with `Broadcast: ` (examples/echo.ts) or `Server：` (the Swoole
 * manual's prefix, examples/broadcast.ts) shows as a broadcast; any other as a reply. Stable
 * ids for tests: `#state`, `#reconnect`, `#send` (the form), `#message`, `#log` (its items
 * have the class `sent`, `reply`, `broadcast` or `info`).
 */

/** The page, titled `title`; its script connects to `/websocket` on the same host. */
export function demoPage(title: string): string {
  const name = title.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${name}</title>
<style>
  * { box-sizing: border-box; }
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1f2328; }
  main { max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
  header { display: flex; align-items: center; gap: .75rem; }
  h1 { font-size: 1.35rem; margin: 0; flex: 1; }
  p { color: #59636e; margin: .4rem 0 1rem; font-size: .9rem; }
  code { background: #e8eaed; padding: 0 .3rem; border-radius: .3rem; }
  #state { padding: .15rem .7rem; border-radius: 1rem; font-size: .85rem; font-weight: 600;
    background: #fff4d6; color: #8a5a00; }
  #state::before { content: "● "; }
  #state.open { background: #dcf5e3; color: #1a7f37; }
  #state.closed { background: #fde2e1; color: #b42318; }
  button { font: inherit; border: 0; border-radius: .5rem; padding: .45rem 1rem; cursor: pointer;
    background: #2563eb; color: #fff; }
  button:disabled { background: #a9b4c4; cursor: default; }
  #reconnect { background: #fff; color: #2563eb; border: 1px solid #2563eb; padding: .2rem .7rem; }
  #log { list-style: none; margin: 0; padding: .75rem; height: 22rem; overflow-y: auto;
    background: #fff; border: 1px solid #d8dce1; border-radius: .75rem;
    display: flex; flex-direction: column; gap: .4rem; }
  #log li { max-width: 80%; padding: .35rem .75rem; border-radius: .9rem; overflow-wrap: anywhere; }
  #log li.sent { align-self: flex-end; background: #2563eb; color: #fff; border-bottom-right-radius: .2rem; }
  #log li.reply { align-self: flex-start; background: #eef1f4; border-bottom-left-radius: .2rem; }
  #log li.broadcast { align-self: flex-start; background: #fff4d6; border: 1px solid #f0c05a; }
  #log li.broadcast::before { content: "broadcast"; display: block; font-size: .7rem;
    font-weight: 600; text-transform: uppercase; letter-spacing: .05em; color: #8a5a00; }
  #log li.info { align-self: center; max-width: none; padding: 0; color: #8b949e; font-size: .8rem; }
  form { display: flex; gap: .5rem; margin-top: .75rem; }
  input { flex: 1; font: inherit; padding: .45rem .75rem; border: 1px solid #c4cad2;
    border-radius: .5rem; }
  input:focus { outline: 2px solid #bfd3fb; border-color: #2563eb; }
</style>
<main>
<header>
  <h1>${name}</h1>
  <span id="state" role="status">connecting</span>
  <button id="reconnect" type="button" hidden>Reconnect</button>
</header>
<p>Open this page twice: each page sees its own replies, and every visitor's messages as
  broadcasts. Send <code>close</code> to disconnect.</p>
<ul id="log" role="log" aria-live="polite"></ul>
<form id="send">
  <input id="message" placeholder="Your name, e.g. Ada" autocomplete="off" aria-label="message">
  <button disabled>Send</button>
</form>
</main>
<script>
  const state = document.getElementById("state");
  const reconnect = document.getElementById("reconnect");
  const log = document.getElementById("log");
  const form = document.getElementById("send");
  const input = document.getElementById("message");
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/websocket";
  const broadcast = /^(?:Broadcast: |Server：)/;
  let websocket;
  function show(kind, text) {
    const item = document.createElement("li");
    item.className = kind;
    item.textContent = text;
    log.append(item);
    log.scrollTop = log.scrollHeight;
  }
  function setState(name) {
    state.textContent = name;
    state.className = name;
    reconnect.hidden = name !== "closed";
    form.querySelector("button").disabled = name !== "open";
  }
  function connect() {
    setState("connecting");
    websocket = new WebSocket(url);
    websocket.binaryType = "arraybuffer";
    websocket.onopen = () => {
      setState("open");
      show("info", "connected to " + url);
      input.focus();
    };
    websocket.onclose = (event) => {
      setState("closed");
      show("info", "disconnected (code " + event.code + ")");
    };
    websocket.onmessage = (event) => {
      if (typeof event.data !== "string") return show("reply", event.data.byteLength + " bytes");
      const prefix = broadcast.exec(event.data);
      if (prefix) show("broadcast", event.data.slice(prefix[0].length));
      else show("reply", event.data);
    };
  }
  reconnect.onclick = connect;
  form.onsubmit = (event) => {
    event.preventDefault();
    if (websocket.readyState !== WebSocket.OPEN || !input.value) return;
    websocket.send(input.value);
    show("sent", input.value);
    input.value = "";
  };
  connect();
</script>
</html>
`;
}
