// GraphQL over HTTP in its common case, a JSON POST from a server-side client (chat-app backends recording usage),
// answered with yoga's own parameter handling (plugins, masking, error codes) and its own result processing, but
// without yoga's Fetch-API emulation of the Node request and response. That emulation cost about a quarter of the
// server CPU of a recordUsage call and most of its garbage, whose collection pauses set the hot path's p95.
// Everything else goes to yoga as it came: browsers (an Origin header: CORS), SSE or multipart answers, bodies
// yoga would refuse (it answers with its exact error), and subscriptions (closed here, then served by yoga).
// This path runs yoga's onParams and execution hooks but not its request-level ones (onRequest, onRequestParse,
// onResultProcess, onResponse, instrumentation): a plugin that hooks one of those turns the path off, so that it sees
// every request (yoga.ts, directJsonPath). Measured on a busy 2-core host, a trivial query cost the server
// 123–230 µs of CPU here and 140–300 µs through yoga's own adapter.
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { isAsyncIterable, processRegularResult } from "graphql-yoga";
import { type LimitedRequest, readBody } from "./body.ts";
import type { Yoga } from "./yoga.ts";

/** Yoga's result processors in its order; for a single result the last match wins (plugins/use-result-processor). */
const PROCESSOR_MEDIA_TYPES = [["text/event-stream"], ["multipart/mixed"], ["application/graphql-response+json", "application/json"]];
const REGULAR = new Set(["application/graphql-response+json", "application/json"]);
const PARAMETERS = new Set(["query", "variables", "operationName", "extensions"]);

const matches = (offered: string, asked: string) => {
  const [offeredType, offeredSubtype] = offered.split("/");
  const [askedType, askedSubtype] = asked.split("/");
  return (askedType === "*" || askedType === offeredType) && (askedSubtype === "*" || askedSubtype === offeredSubtype);
};

/** Clients send few distinct Accept headers: each is worked out once (the map is emptied if it ever fills). */
const mediaTypes = new Map<string, string | null>();

/** The media type yoga would answer a single (non-streamed) result in, when it is plain JSON; otherwise null. */
function jsonMediaType(accept = "*/*"): string | null {
  let type = mediaTypes.get(accept);
  if (type === undefined) {
    if (mediaTypes.size >= 100) mediaTypes.clear();
    type = chooseMediaType(accept);
    mediaTypes.set(accept, type);
  }
  return type;
}

function chooseMediaType(accept: string): string | null {
  const asked: string[] = [];
  for (const entry of (accept || "*/*").replace(/\s/g, "").toLowerCase().split(",")) {
    const [type, ...parameters] = entry.split(";");
    if (type && (parameters.find((parameter) => parameter.includes("charset=")) ?? "charset=utf-8") === "charset=utf-8") asked.push(type);
  }
  asked.reverse();
  let chosen: string | null = null;
  for (const offered of PROCESSOR_MEDIA_TYPES) {
    for (const type of asked) for (const candidate of offered) if (matches(candidate, type)) chosen = candidate;
  }
  return chosen && REGULAR.has(chosen) ? chosen : null;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const optional = (value: unknown, kind: "string" | "object") =>
  value == null || (kind === "object" ? isPlainObject(value) : typeof value === kind);

/** Parameters yoga would accept as they are; anything else is left for yoga to refuse in its words. */
function graphqlParams(body: Buffer): Record<string, unknown> | null {
  let params: unknown;
  try {
    params = JSON.parse(body.toString("utf8"));
  } catch {
    return null;
  }
  if (!isPlainObject(params)) return null;
  // No query: a persisted operation's hash (in extensions) stands for it.
  if (typeof params.query !== "string" && !(params.query == null && isPlainObject(params.extensions))) return null;
  for (const key in params) if (params[key] != null && !PARAMETERS.has(key)) return null;
  const valid = optional(params.variables, "object") && optional(params.operationName, "string") && optional(params.extensions, "object");
  return valid ? params : null;
}

const isJsonContent = (contentType: string | undefined) => {
  const first = contentType?.split(",")[0];
  return ["application/json", "application/graphql+json"].some((type) => first === type || first?.startsWith(`${type};`));
};

/** What processRegularResult builds a Response from, kept as is. */
class CapturedResponse {
  readonly body: string;
  readonly init: { status: number; headers: Record<string, string> };
  constructor(body: string, init: CapturedResponse["init"]) {
    this.body = body;
    this.init = init;
  }
}
const CAPTURE = { Response: CapturedResponse } as unknown as Parameters<typeof processRegularResult>[1];

/**
 * Answers `request` when it is a JSON POST to the GraphQL endpoint that yoga would answer in plain JSON, and
 * resolves true; otherwise resolves false and leaves the request (its body, if read, as `request.body`) to yoga.
 */
export async function answerJsonPost(yoga: Yoga, request: LimitedRequest, response: ServerResponse): Promise<boolean> {
  const { headers } = request;
  if (request.method !== "POST" || headers.origin !== undefined || !isJsonContent(headers["content-type"])) return false;
  if (request.url?.split("?")[0] !== yoga.graphqlEndpoint) return false;
  const mediaType = jsonMediaType(headers.accept);
  if (!mediaType) return false;

  // Within the limit already (body.ts), so read whole.
  const body = (await readBody(request.body ?? request))!;
  const handBack = () => {
    request.body = Readable.from([body]);
    return false;
  };
  const params = graphqlParams(body);
  if (!params) return handBack();

  const lean = {
    method: "POST",
    url: `http://localhost${request.url}`,
    headers: { get: (name: string) => header(request, name), has: (name: string) => header(request, name) !== null },
  } as unknown as Request;
  let result: Awaited<ReturnType<Yoga["getResultForParams"]>>;
  try {
    result = await yoga.getResultForParams({ params, request: lean }, { req: request, res: response } as never);
  } catch {
    // Refused by a parameter hook (a persisted query not found, not allowed) before anything ran: yoga answers it
    // with its own error and status, which are not ours to rebuild here (its error handling is internal).
    return handBack();
  }
  if (isAsyncIterable(result)) {
    // A subscription: nothing was done yet but listen. Yoga serves it (as SSE when the client takes it).
    await (result as AsyncIterableIterator<unknown>).return?.();
    return handBack();
  }
  if (!result) throw new Error("yoga returned no result for a GraphQL request");
  const answer = (await processRegularResult(result, CAPTURE, mediaType)) as unknown as CapturedResponse;
  response.writeHead(answer.init.status, { ...answer.init.headers, "content-length": Buffer.byteLength(answer.body) });
  response.end(answer.body);
  return true;
}

function header(request: IncomingMessage, name: string): string | null {
  const value = request.headers[name.toLowerCase()];
  return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
}
