// Stopping with kept-alive clients: a request in flight when the stop begins is answered, with `Connection: close`,
// and its connection is closed by the server, so idle clients cannot hold the process until their keep-alive ends.
import { Agent, request } from "node:http";
import { describe, expect, it } from "vitest";
import { OPERATOR_KEY, startServer } from "../support/server.ts";

const server = await startServer();

describe("draining on stop", () => {
  it("answers a request in flight with Connection: close and closes its kept-alive connection", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const body = JSON.stringify({ query: "{ __typename }" });
    const url = new URL(`${server.url}/graphql`);
    let socketClosed = false;
    let sendRest = () => {};
    let connected = () => {};
    const connectedOnce = new Promise<void>((resolve) => (connected = resolve));
    const answered = new Promise<{ status: number; connection: string | undefined; text: string }>((resolve, reject) => {
      const call = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: "POST",
          agent,
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
            authorization: `Bearer ${OPERATOR_KEY}`,
          },
        },
        (response) => {
          let text = "";
          response.on("data", (chunk) => (text += chunk));
          response.on("end", () => resolve({ status: response.statusCode!, connection: response.headers.connection, text }));
        },
      );
      call.on("socket", (socket) => {
        socket.on("close", () => (socketClosed = true));
        socket.once("connect", () => connected());
      });
      call.on("error", reject);
      // Half the body now: the server holds the request until the rest comes, after the stop has begun.
      call.write(body.slice(0, 10));
      sendRest = () => call.end(body.slice(10));
    });
    await connectedOnce;
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stopped = server.app.stop();
    sendRest();
    const response = await answered;
    expect(response).toEqual({ status: 200, connection: "close", text: JSON.stringify({ data: { __typename: "Query" } }) });
    await stopped;
    await expect.poll(() => socketClosed, { timeout: 30_000 }).toBe(true);
    agent.destroy();
  });
});
