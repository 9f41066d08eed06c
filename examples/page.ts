/**
 * The demo page the examples serve: connect, send, and see replies live.
 */

/** The page, titled `title`; its script connects to `/websocket` on the same host. */
export function demoPage(title: string): string {
  return `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.4rem; }
  #state { display: inline-block; padding: .1rem .6rem; border-radius: 1rem; background: #eee; }
  #state.open { background: #d4f7d4; } #state.closed { background: #f7d4d4; }
  form { display: flex; gap: .5rem; margin: 1rem 0; }
  input { flex: 1; padding: .4rem; font: inherit; }
  button { padding: .4rem 1rem; font: inherit; }
  #log { list-style: none; padding: 0; }
  #log li { padding: .25rem .5rem; border-bottom: 1px solid #eee; }
  #log li.sent { color: #666; }
</style>
<h1>${title}</h1>
<p>Connection: <span id="state">connecting</span></p>
<form id="form"><input id="message" value="hello" autocomplete="off" aria-label="message"><button>Send</button></form>
<ul id="log"></ul>
<script>
  const state = document.getElementById("state");
  const log = document.getElementById("log");
  const input = document.getElementById("message");
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const websocket = new WebSocket(scheme + location.host + "/websocket");
  function show(text, kind) {
    const item = document.createElement("li");
    item.textContent = text;
    item.className = kind;
    log.prepend(item);
  }
  function setState(text) { state.textContent = text; state.className = text; }
  websocket.onopen = () => { setState("open"); websocket.send("hello"); show("> hello", "sent"); };
  websocket.onclose = () => setState("closed");
  websocket.onmessage = (event) => show(event.data, "received");
  document.getElementById("form").onsubmit = (event) => {
    event.preventDefault();
    if (websocket.readyState !== WebSocket.OPEN || !input.value) return;
    websocket.send(input.value);
    show("> " + input.value, "sent");
    input.value = "";
  };
</script>
</html>
`;
}
