// The fan-out bench's subscribers, in their own process: thousands of raw `ws` sockets, each speaking just enough
// graphql-transport-ws (connection_init, subscribe, next) to hold one balanceChanged subscription, recording when each
// version arrives (epoch ms, comparable with the parent's clock). Driven over IPC by fanout.bench.ts.
import WebSocket from "ws";

interface Watch {
  url: string;
  member: number;
  token: string;
}
type Command = { type: "open"; watches: Watch[]; concurrency: number } | { type: "collect"; finalVersions: number[]; waitMs: number };

const QUERY = `subscription { balanceChanged(kind: INFERENCE) { used version } }`;
const now = () => performance.timeOrigin + performance.now();

interface Socket {
  member: number;
  versions: number[];
  times: number[];
  ws: WebSocket;
}
const sockets: Socket[] = [];
/** Sockets the server closed after their subscription began (none expected). */
let closed = 0;

function open(watch: Watch): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${watch.url.replace(/^http/, "ws")}/graphql`, "graphql-transport-ws", { perMessageDeflate: false });
    const socket: Socket = { member: watch.member, versions: [], times: [], ws };
    ws.on("open", () => ws.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${watch.token}` } })));
    ws.on("message", (data) => {
      const message = JSON.parse(String(data)) as { type: string; payload?: any };
      if (message.type === "connection_ack") {
        ws.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: QUERY } }));
      } else if (message.type === "next") {
        const balance = message.payload?.data?.balanceChanged;
        if (!balance) return reject(new Error(`subscription error: ${JSON.stringify(message.payload)}`));
        socket.versions.push(balance.version);
        socket.times.push(now());
        if (socket.versions.length === 1) resolve(socket);
      } else if (message.type === "error") {
        reject(new Error(`subscription error: ${JSON.stringify(message.payload)}`));
      }
    });
    ws.on("error", reject);
    ws.on("close", (code) => {
      if (socket.versions.length === 0) reject(new Error(`socket closed with ${code}`));
      else closed++;
    });
  });
}

process.on("message", async (command: Command) => {
  if (command.type === "open") {
    let next = 0;
    const worker = async () => {
      while (next < command.watches.length) sockets.push(await open(command.watches[next++]!));
    };
    try {
      await Promise.all(Array.from({ length: command.concurrency }, worker));
      process.send!({ type: "opened", sockets: sockets.length });
    } catch (error) {
      process.send!({ type: "failed", error: String(error) });
    }
    return;
  }
  // Wait (bounded) until every socket has seen its member's last version, then report what arrived when.
  const deadline = Date.now() + command.waitMs;
  const done = () => sockets.every((socket) => (socket.versions.at(-1) ?? -1) >= command.finalVersions[socket.member]!);
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  // The sockets stay open (the parent measures the server with them) until this process is killed.
  process.send!({
    type: "collected",
    closed,
    sockets: sockets.map((socket) => ({ member: socket.member, versions: socket.versions, times: socket.times })),
  });
});
