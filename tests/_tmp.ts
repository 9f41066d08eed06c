import { connect, startServer } from "./helpers.ts";
const server = await startServer("fixtures/hostile.ts");
const client = await connect(`${server.wsUrl}/disconnect-later?ms=500`);
const t0 = Date.now();
for (let i = 0; i < 32; i++) client.send(new Uint8Array(4096));
console.log(await client.closed, Date.now() - t0);
server.kill();
