// The size limit on GraphQL request bodies, applied before yoga sees the request. Yoga's own limit pipes every
// body through a web TransformStream, which cost more server CPU than the rest of a small request (a trivial
// query: ~250 → ~105 µs). Here a body with a Content-Length (what every GraphQL client sends) is judged by that
// header alone, since Node's parser never delivers more than it declares; only a chunked body is read and
// counted here, then handed on from memory.
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";

type Refusal = { status: number; code: string; message: string };

function refuse(response: ServerResponse, { status, code, message }: Refusal): void {
  const body = JSON.stringify({ errors: [{ message, extensions: { code } }] });
  // The rest of a refused body is not read: the connection closes once the answer is out.
  response.writeHead(status, { "content-type": "application/json; charset=utf-8", connection: "close" });
  response.end(body);
}

const tooLarge = (limit: number): Refusal => ({
  status: 413,
  code: "REQUEST_ENTITY_TOO_LARGE",
  message: `The request body is larger than ${limit} bytes (MAX_REQUEST_BODY_BYTES).`,
});

/** The whole of `stream`, or null once it passes `limit` bytes (the rest is then left unread). */
export function readBody(stream: Readable, limit = Number.POSITIVE_INFINITY): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      stream.off("data", onData);
      stream.pause();
      resolve(null);
    };
    stream.on("data", onData);
    stream.once("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    stream.once("error", reject);
  });
}

/** A request whose body, when it had to be read here, is given to yoga's Node adapter as `body`. */
export type LimitedRequest = IncomingMessage & { body?: Readable };

/**
 * Whether `request`'s body is within `limit` bytes. When it is not (or is compressed, which is not accepted),
 * answers 413 (415) and resolves false. A chunked body is read here and set as `request.body`.
 */
export async function limitBody(request: LimitedRequest, response: ServerResponse, limit: number): Promise<boolean> {
  const encoding = request.headers["content-encoding"];
  if (encoding && encoding !== "identity") {
    refuse(response, { status: 415, code: "UNSUPPORTED_MEDIA_TYPE", message: "Compressed request bodies are not accepted." });
    return false;
  }
  const declared = request.headers["content-length"];
  if (declared !== undefined) {
    // Node's parser has already refused a malformed Content-Length.
    if (Number(declared) <= limit) return true;
    refuse(response, tooLarge(limit));
    return false;
  }
  if (request.headers["transfer-encoding"] === undefined) return true;
  const body = await readBody(request, limit);
  if (!body) {
    refuse(response, tooLarge(limit));
    return false;
  }
  request.body = Readable.from([body]);
  return true;
}
