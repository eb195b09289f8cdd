// A GraphQL client as a chat app or admin frontend would use it: HTTP for queries and mutations,
// graphql-ws for subscriptions. Failures name the operation, the response and the request id.
import { randomUUID } from "node:crypto";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { type DocumentNode, print } from "graphql";
import { type Client, type ClientOptions, createClient } from "graphql-ws";
import WebSocket from "ws";

export interface GraphQLErrorShape {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; field?: string; [key: string]: unknown };
}

export interface GraphQLResponse<T> {
  data?: T | null;
  errors?: GraphQLErrorShape[];
}

type Document<T, V> = TypedDocumentNode<T, V> | DocumentNode | string;

const source = (document: Document<unknown, unknown>) => (typeof document === "string" ? document : print(document));

export class Api {
  readonly url: string;
  readonly credential: string | null;
  constructor(url: string, credential: string | null = null) {
    this.url = url;
    this.credential = credential;
  }

  as(credential: string | null): Api {
    return new Api(this.url, credential);
  }

  /** The raw response, errors included. */
  async request<T = any, V = Record<string, unknown>>(
    document: Document<T, V>,
    variables?: NoInfer<V>,
  ): Promise<GraphQLResponse<T> & { requestId: string; status: number }> {
    const requestId = randomUUID();
    const response = await fetch(`${this.url}/graphql`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-request-id": requestId,
        ...(this.credential ? { authorization: `Bearer ${this.credential}` } : {}),
      },
      body: JSON.stringify({ query: source(document), variables }),
    });
    const body = (await response.json()) as GraphQLResponse<T>;
    return { ...body, requestId, status: response.status };
  }

  /** The data; throws with operation, response and request id when there are errors. */
  async execute<T = any, V = Record<string, unknown>>(document: Document<T, V>, variables?: NoInfer<V>): Promise<T> {
    const result = await this.request(document, variables);
    if (result.errors?.length || !result.data) {
      throw new Error(
        `GraphQL operation failed (request ${result.requestId}, HTTP ${result.status}):\n${source(document)}\nvariables: ${JSON.stringify(variables)}\nresponse: ${JSON.stringify({ data: result.data, errors: result.errors }, null, 2)}`,
      );
    }
    return result.data;
  }

  /** The first error's code (fails the test when the operation succeeded). */
  async errorOf<V = Record<string, unknown>>(document: Document<unknown, V>, variables?: NoInfer<V>): Promise<GraphQLErrorShape> {
    const result = await this.request(document, variables);
    const error = result.errors?.[0];
    if (!error) throw new Error(`Expected an error from:\n${source(document)}\ngot ${JSON.stringify(result.data)}`);
    return error;
  }

  /** A graphql-ws client authenticated like this Api. */
  ws(options: Partial<ClientOptions> = {}): Client {
    return createClient({
      url: `${this.url.replace(/^http/, "ws")}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: this.credential ? { authorization: `Bearer ${this.credential}` } : {},
      retryAttempts: 0,
      lazy: true,
      ...options,
    });
  }
}

/** Collects subscription events; `next(predicate)` waits for the first matching one. */
export class Subscription<T> {
  readonly events: T[] = [];
  readonly errors: unknown[] = [];
  #waiters: { predicate: (event: T) => boolean; resolve: (event: T) => void }[] = [];
  #dispose: () => void;

  constructor(client: Client, document: Document<T, any>, variables?: Record<string, unknown>) {
    this.#dispose = client.subscribe<T>(
      { query: source(document), variables },
      {
        next: (result) => {
          if (result.errors?.length) {
            this.errors.push(result.errors);
            return;
          }
          const event = result.data as T;
          this.events.push(event);
          this.#waiters = this.#waiters.filter((waiter) => {
            if (!waiter.predicate(event)) return true;
            waiter.resolve(event);
            return false;
          });
        },
        error: (error) => this.errors.push(error),
        complete: () => {},
      },
    );
  }

  /** Resolves with the first event (already received or future) matching `predicate`. */
  next(predicate: (event: T) => boolean = () => true, timeoutMs = 50_000): Promise<T> {
    const seen = this.events.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `No matching subscription event within ${timeoutMs} ms; got ${JSON.stringify(this.events)} errors ${JSON.stringify(this.errors)}`,
            ),
          ),
        timeoutMs,
      );
      this.#waiters.push({
        predicate,
        resolve: (event) => {
          clearTimeout(timer);
          resolve(event);
        },
      });
    });
  }

  close(): void {
    this.#dispose();
  }
}

export function subscribe<T = any>(
  api: Api,
  document: Document<T, any>,
  variables?: Record<string, unknown>,
): { subscription: Subscription<T>; client: Client } {
  const client = api.ws();
  return { subscription: new Subscription<T>(client, document, variables), client };
}

/** The named fields of a typed result, so a test compares exactly the fields it asserts on with toEqual. */
export function pick<T extends object, K extends keyof T>(value: T, ...keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((key) => [key, value[key]])) as Pick<T, K>;
}
