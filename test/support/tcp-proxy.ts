// A TCP proxy in front of a test server, to lose connections the way networks do: cut every open connection,
// refuse new ones for a while, or cut a connection after its request reached the server but before the answer.
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterAll } from "vitest";

export interface TcpProxy {
  /** The server's base URL, through the proxy. */
  url: string;
  /** Connections accepted so far. */
  connections: number;
  /** Cuts every open connection. */
  dropAll(): void;
  /** While down, new connections are cut at once (as a refused connect looks to a client). */
  setDown(down: boolean): void;
  /** Cuts the next `count` connections when the server's first answer bytes arrive (the request was served). */
  loseNextAnswers(count: number): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  const open = new Set<Socket>();
  let down = false;
  let answersToLose = 0;
  const proxy: TcpProxy = {
    url: "",
    connections: 0,
    dropAll() {
      for (const socket of open) socket.destroy();
      open.clear();
    },
    setDown(value) {
      down = value;
      if (down) proxy.dropAll();
    },
    loseNextAnswers(count) {
      answersToLose = count;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((client) => {
    proxy.connections++;
    if (down) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    open.add(client).add(upstream);
    let loseAnswer = false;
    if (answersToLose > 0) {
      answersToLose--;
      loseAnswer = true;
    }
    client.on("data", (chunk) => upstream.write(chunk));
    upstream.on("data", (chunk) => {
      if (loseAnswer) {
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(chunk);
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("close", close).on("error", close);
    upstream.on("close", close).on("error", close);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address() as { port: number };
  proxy.url = `http://127.0.0.1:${address.port}`;
  afterAll(async () => {
    proxy.dropAll();
    await proxy.close();
  });
  return proxy;
}
