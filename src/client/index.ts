// The Tokenwarden client for a chat app's backend (`tokenwarden/client`): the usage hot path with idempotency keys
// made for the caller and safe retries, the live token indicator that survives reconnects, and typed documents.
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";
import { createClient, type Client as WsClient } from "graphql-ws";
import {
  AuthorizeUsageDocument,
  type AuthorizeUsageMutation,
  BalanceChangedDocument,
  type BalanceFieldsFragment,
  CommitUsageDocument,
  type CommitUsageInput,
  MemberBalancesDocument,
  RecordUsageDocument,
  type RecordUsageInput,
  ReleaseReservationDocument,
  type TokenKind,
  type UsageDenialReason,
  type UsageReceiptFieldsFragment,
} from "./generated/graphql.ts";

export * from "./generated/graphql.ts";

/** Why authorizeUsage said no: a normal answer, not an error. */
export type DenialReason = UsageDenialReason;
export type Balance = BalanceFieldsFragment;
export type UsageReceipt = UsageReceiptFieldsFragment;

export type Authorization =
  | {
      allowed: true;
      reservationId: string;
      /** The model to call: the one asked for, or a cheaper fallback when its cap is reached. */
      routedModel: string;
      fellBack: boolean;
      expiresAt: string;
    }
  | { allowed: false; reason: DenialReason };

/** A refused operation; `code` is the server's `extensions.code` (NETWORK_ERROR when no answer arrived). */
export class TokenwardenError extends Error {
  readonly code: string;
  readonly errors: readonly { message: string; extensions?: Record<string, unknown> }[];
  constructor(message: string, code: string, errors: TokenwardenError["errors"] = []) {
    super(message);
    this.name = "TokenwardenError";
    this.code = code;
    this.errors = errors;
  }
}

export interface RetryOptions {
  /** Attempts in all, the first included (default 5). */
  attempts?: number;
  /** First backoff in ms (default 100); doubles each attempt, with full jitter, up to maxDelayMs (default 5000). */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface TokenwardenClientOptions {
  /** The GraphQL endpoint, e.g. http://localhost:4000/graphql (ws:// is derived from it). */
  url: string;
  /** A service API key (createApiKey), or a member's access token. */
  credential: string;
  retry?: RetryOptions;
  /**
   * Send only the hash of each generated document (trusted documents; the server's TRUSTED_DOCUMENTS=true accepts
   * nothing else). Off: the query text is sent.
   */
  persistedDocuments?: boolean;
  fetch?: typeof fetch;
  /** A WebSocket implementation where the runtime has none (Node 22+ and browsers have one). */
  webSocketImpl?: unknown;
}

export interface BalanceWatch {
  stop(): void;
}

type Variables = Record<string, unknown>;
interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

const RETRYABLE_CODES = new Set(["SERVICE_UNAVAILABLE", "NETWORK_ERROR"]);
const printed = new WeakMap<object, string>();
const source = (document: TypedDocumentNode<any, any>) => {
  let text = printed.get(document);
  if (text === undefined) {
    text = print(document);
    printed.set(document, text);
  }
  return text;
};
const hashOf = (document: TypedDocumentNode<any, any>) => {
  const hash = (document as { __meta__?: { hash?: string } }).__meta__?.hash;
  if (!hash) throw new Error("Only the generated documents of tokenwarden/client have a persisted hash.");
  return hash.replace(/^sha256:/, "");
};

export function createTokenwardenClient(options: TokenwardenClientOptions) {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const attempts = Math.max(1, options.retry?.attempts ?? 5);
  const baseDelayMs = options.retry?.baseDelayMs ?? 100;
  const maxDelayMs = options.retry?.maxDelayMs ?? 5000;
  const authorization = `Bearer ${options.credential}`;

  const body = (document: TypedDocumentNode<any, any>, variables?: Variables) => {
    const extensions = options.persistedDocuments ? { persistedQuery: { version: 1, sha256Hash: hashOf(document) } } : undefined;
    return options.persistedDocuments ? { variables, extensions } : { query: source(document), variables };
  };

  /** One attempt: the data, or a TokenwardenError (code NETWORK_ERROR when nothing usable came back). */
  async function attempt<T>(document: TypedDocumentNode<T, any>, variables?: Variables): Promise<T> {
    let response: Response;
    let result: GraphQLResponse<T>;
    try {
      response = await fetchImpl(options.url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/graphql-response+json, application/json", authorization },
        body: JSON.stringify(body(document, variables)),
      });
      result = (await response.json()) as GraphQLResponse<T>;
    } catch (error) {
      throw new TokenwardenError(`No answer from ${options.url}: ${(error as Error).message}`, "NETWORK_ERROR");
    }
    const errors = result.errors ?? [];
    if (errors.length > 0 || !result.data) {
      const code = (errors[0]?.extensions?.code as string | undefined) ?? (response.status === 503 ? "SERVICE_UNAVAILABLE" : "UNKNOWN");
      throw new TokenwardenError(errors[0]?.message ?? `HTTP ${response.status} without data`, code, errors);
    }
    return result.data;
  }

  /**
   * Runs a typed document, retrying with backoff on network errors and SERVICE_UNAVAILABLE. Only for operations
   * that are safe to repeat: reads, and writes with an idempotency key (the same key on every attempt).
   */
  async function execute<T, V extends Variables>(document: TypedDocumentNode<T, V>, variables?: V): Promise<T> {
    for (let tried = 1; ; tried++) {
      try {
        return await attempt(document, variables);
      } catch (error) {
        if (!(error instanceof TokenwardenError) || !RETRYABLE_CODES.has(error.code) || tried >= attempts) throw error;
        const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (tried - 1));
        await new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
      }
    }
  }

  const wsClients = new Set<WsClient>();

  return {
    execute,

    /**
     * May the member make this call? When allowed, tokens are held until commit or release. A retry after a lost
     * answer may leave a second hold; it is never charged and expires on its own (RESERVATION_TTL_SECONDS).
     */
    async authorize(input: { memberId: string; modelKey: string; estimatedTokens: number; kind?: TokenKind }): Promise<Authorization> {
      const { authorizeUsage: answer } = await execute(AuthorizeUsageDocument, { input });
      return toAuthorization(answer);
    },

    /** Charges what the call used; the idempotency key is made here unless given, and kept across retries. */
    async commit(input: Omit<CommitUsageInput, "idempotencyKey"> & { idempotencyKey?: string }): Promise<UsageReceipt> {
      const { commitUsage } = await execute(CommitUsageDocument, { input: { ...input, idempotencyKey: input.idempotencyKey ?? newKey() } });
      return commitUsage;
    },

    /** Records usage already done (no authorization); idempotent like commit. */
    async record(input: Omit<RecordUsageInput, "idempotencyKey"> & { idempotencyKey?: string }): Promise<UsageReceipt> {
      const { recordUsage } = await execute(RecordUsageDocument, { input: { ...input, idempotencyKey: input.idempotencyKey ?? newKey() } });
      return recordUsage;
    },

    /** Gives the held tokens back; false when the reservation was already closed (so a retry is harmless). */
    async release(reservationId: string): Promise<boolean> {
      const { releaseReservation } = await execute(ReleaseReservationDocument, { id: reservationId });
      return releaseReservation;
    },

    /** The member's current balance of one kind. */
    async balance(memberId: string, kind: TokenKind = "INFERENCE"): Promise<Balance> {
      const { member } = await execute(MemberBalancesDocument, { memberId });
      if (!member) throw new TokenwardenError("Member not found.", "NOT_FOUND");
      return kind === "INFERENCE" ? member.inference : member.training;
    },

    /**
     * The live token indicator: calls `onBalance` with the current balance at once, on every change, and again with
     * the current value after each reconnect (changes made while disconnected are never missed). Reconnects forever,
     * with backoff, until stopped; `onError` hears refusals (a bad credential, an unknown member).
     */
    watchBalance(
      memberId: string,
      onBalance: (balance: Balance) => void,
      { kind = "INFERENCE", onError }: { kind?: TokenKind; onError?: (error: unknown) => void } = {},
    ): BalanceWatch {
      let stopped = false;
      // Versions only go up: an older or repeated value (a late event, the re-read after a reconnect) is not shown.
      let shownVersion = -1;
      const show = (balance: Balance) => {
        if (stopped || balance.version <= shownVersion) return;
        shownVersion = balance.version;
        onBalance(balance);
      };
      const client = createClient({
        url: options.url.replace(/^http/, "ws"),
        connectionParams: { authorization },
        ...(options.webSocketImpl ? { webSocketImpl: options.webSocketImpl } : {}),
        lazy: false,
        retryAttempts: Number.POSITIVE_INFINITY,
        shouldRetry: () => !stopped,
        on: {
          // The subscription restarts with the connection; what changed in between is read once.
          connected: () => {
            execute(MemberBalancesDocument, { memberId }).then(
              ({ member }) => member && show(kind === "INFERENCE" ? member.inference : member.training),
              (error) => onError?.(error),
            );
          },
        },
      });
      wsClients.add(client);
      const unsubscribe = client.subscribe(
        options.persistedDocuments
          ? {
              query: "",
              variables: { memberId, kind },
              extensions: { persistedQuery: { version: 1, sha256Hash: hashOf(BalanceChangedDocument) } },
            }
          : { query: source(BalanceChangedDocument), variables: { memberId, kind } },
        {
          next: (result) => {
            const balance = (result.data as { balanceChanged?: Balance } | null | undefined)?.balanceChanged;
            if (balance) show(balance);
            else if (result.errors?.length)
              onError?.(
                new TokenwardenError(
                  result.errors[0]!.message,
                  String(result.errors[0]!.extensions?.code ?? "UNKNOWN"),
                  result.errors as never,
                ),
              );
          },
          error: (error) => onError?.(error),
          complete: () => {},
        },
      );
      return {
        stop() {
          stopped = true;
          unsubscribe();
          wsClients.delete(client);
          void client.dispose();
        },
      };
    },

    /** Closes every balance watch. */
    async close(): Promise<void> {
      await Promise.all([...wsClients].map((client) => client.dispose()));
      wsClients.clear();
    },
  };
}

export type TokenwardenClient = ReturnType<typeof createTokenwardenClient>;

const newKey = () => globalThis.crypto.randomUUID();

function toAuthorization(answer: AuthorizeUsageMutation["authorizeUsage"]): Authorization {
  if (!answer.allowed) return { allowed: false, reason: answer.denialReason! };
  return {
    allowed: true,
    reservationId: answer.reservation!.id,
    routedModel: answer.routedModel!.key,
    fellBack: answer.fellBack,
    expiresAt: answer.reservation!.expiresAt,
  };
}
