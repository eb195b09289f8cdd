// Configuration: read and validated once at start, then passed in.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Decimal } from "decimal.js";

export interface Config {
  production: boolean;
  port: number;
  host: string;
  /** PostgreSQL connection string; null selects the embedded PGlite under dataDir. */
  databaseUrl: string | null;
  /** null: PGlite in memory (tests). */
  dataDir: string | null;
  databasePoolSize: number;
  redisUrl: string | null;
  operatorApiKey: string;
  jwtSecret: string;
  jwksUrl: string | null;
  jwtIssuer: string | null;
  jwtAudience: string | null;
  pricePerMillionTokens: Decimal;
  reservationTtlSeconds: number;
  /** How often the scheduler looks for due cycle resets, rebalancing runs and expired reservations. */
  schedulerIntervalSeconds: number;
  /** Token requests a member may file per hour. */
  tokenRequestsPerHour: number;
  maxQueryDepth: number;
  maxQueryTokens: number;
  maxAliases: number;
  maxQueryCost: number;
  maxRequestBodyBytes: number;
  /** Most open subscriptions on one graphql-ws connection. */
  maxSubscriptionsPerConnection: number;
  /** Most open subscriptions of one member (or one service key) on this process, over every connection. */
  maxSubscriptionsPerMember: number;
  /** Node's HTTP server timeouts: whole headers, whole request (headers and body), idle keep-alive connection. */
  httpHeadersTimeoutMs: number;
  httpRequestTimeoutMs: number;
  httpKeepAliveTimeoutMs: number;
  /** Origins a browser may call from; null: any origin, without credentials (development only). */
  corsOrigins: string[] | null;
  introspection: boolean;
  graphiql: boolean;
  /** Bearer token /metrics asks for (the operator key is accepted too); null: open, or the operator key in production. */
  metricsToken: string | null;
  /** Accept only the operations of the generated persisted-documents manifest, by hash (trusted documents). */
  trustedDocuments: boolean;
  /** Longest lifetime issueAccessToken grants. */
  accessTokenMaxTtlSeconds: number;
  /** Failed authentications one client address may make per minute before it is refused (RATE_LIMITED). */
  authFailuresPerMinute: number;
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
  /** Set when the operator key was generated at this start, so it can be printed once. */
  generatedOperatorKey: boolean;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === "") return fallback;
  if (["1", "true", "on", "yes"].includes(raw)) return true;
  if (["0", "false", "off", "no"].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

/** CORS_ORIGINS: a comma-separated list of origins (scheme://host[:port]), or "*" for any (not in production). */
function corsOrigins(env: Env, production: boolean): string[] | null {
  const raw = optional(env, "CORS_ORIGINS");
  if (raw === null) return production ? [] : null;
  if (raw === "*") {
    if (production) throw new ConfigError('CORS_ORIGINS cannot be "*" in production: list the origins.');
    return null;
  }
  return raw.split(",").map((entry) => {
    const origin = entry.trim();
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      throw new ConfigError(`CORS_ORIGINS: "${origin}" is not an origin such as https://admin.example.com`);
    }
    if (parsed.origin !== origin) throw new ConfigError(`CORS_ORIGINS: "${origin}" is not an origin (write ${parsed.origin})`);
    return origin;
  });
}

function optional(env: Env, name: string): string | null {
  const raw = env[name]?.trim();
  return raw ? raw : null;
}

interface StoredSecrets {
  operatorApiKey?: string;
  jwtSecret?: string;
}

/** Development only: missing secrets are generated once and kept in the data folder. */
function developmentSecrets(dir: string): { secrets: Required<StoredSecrets>; generated: Set<string> } {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "secrets.json");
  let stored: StoredSecrets = {};
  try {
    stored = JSON.parse(readFileSync(file, "utf8")) as StoredSecrets;
  } catch {
    // first start: nothing stored yet
  }
  const generated = new Set<string>();
  if (!stored.operatorApiKey) {
    stored.operatorApiKey = `twop_${randomBytes(24).toString("base64url")}`;
    generated.add("operatorApiKey");
  }
  if (!stored.jwtSecret) {
    stored.jwtSecret = randomBytes(32).toString("base64url");
    generated.add("jwtSecret");
  }
  if (generated.size > 0) writeFileSync(file, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
  return { secrets: stored as Required<StoredSecrets>, generated };
}

function metricsToken(env: Env): string | null {
  const token = optional(env, "METRICS_TOKEN");
  if (token !== null && token.length < 16) throw new ConfigError("METRICS_TOKEN must be at least 16 characters.");
  return token;
}

/**
 * The operator key opens every organisation: in production it must be long and not a pattern a guesser tries first
 * (one character repeated, or a handful of characters cycled).
 */
function refuseWeakOperatorKey(key: string): void {
  if (key.length < 32) throw new ConfigError("In production OPERATOR_API_KEY must be at least 32 characters.");
  if (new Set(key).size < 8)
    throw new ConfigError("In production OPERATOR_API_KEY must not be a few characters repeated; use a random key.");
}

export function loadConfig(env: Env = process.env): Config {
  const production = env.NODE_ENV === "production";
  const databaseUrl = optional(env, "DATABASE_URL");
  const dataDirSetting = optional(env, "DATA_DIR") ?? "./.data";
  const dataDir = dataDirSetting === ":memory:" ? null : resolve(dataDirSetting);

  let operatorApiKey = optional(env, "OPERATOR_API_KEY");
  let jwtSecret = optional(env, "AUTH_JWT_SECRET");
  let generatedOperatorKey = false;
  if (production) {
    const missing = [!operatorApiKey && "OPERATOR_API_KEY", !jwtSecret && "AUTH_JWT_SECRET"].filter(Boolean);
    if (missing.length > 0) throw new ConfigError(`In production ${missing.join(" and ")} must be set.`);
  } else if (!operatorApiKey || !jwtSecret) {
    const { secrets, generated } = developmentSecrets(dataDir ?? resolve("./.data"));
    if (!operatorApiKey) {
      operatorApiKey = secrets.operatorApiKey;
      generatedOperatorKey = generated.has("operatorApiKey");
    }
    jwtSecret ??= secrets.jwtSecret;
  }
  if (jwtSecret!.length < 32) throw new ConfigError("AUTH_JWT_SECRET must be at least 32 characters.");
  if (operatorApiKey!.length < 16) throw new ConfigError("OPERATOR_API_KEY must be at least 16 characters.");
  if (production) refuseWeakOperatorKey(operatorApiKey!);

  const priceRaw = optional(env, "PRICE_PER_MILLION_TOKENS") ?? "10.00";
  let pricePerMillionTokens: Decimal;
  try {
    pricePerMillionTokens = new Decimal(priceRaw);
  } catch {
    throw new ConfigError(`PRICE_PER_MILLION_TOKENS must be a decimal, got "${priceRaw}"`);
  }
  if (!pricePerMillionTokens.isFinite() || pricePerMillionTokens.lte(0)) {
    throw new ConfigError("PRICE_PER_MILLION_TOKENS must be positive.");
  }

  const logLevel = (optional(env, "LOG_LEVEL") ?? "info") as Config["logLevel"];
  if (!["debug", "info", "warn", "error", "silent"].includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be debug, info, warn, error or silent, got "${logLevel}"`);
  }

  const httpHeadersTimeoutMs = integer(env, "HTTP_HEADERS_TIMEOUT_SECONDS", 10, 1, 3600) * 1000;
  const httpRequestTimeoutMs = integer(env, "HTTP_REQUEST_TIMEOUT_SECONDS", 30, 1, 3600) * 1000;
  if (httpHeadersTimeoutMs > httpRequestTimeoutMs) {
    throw new ConfigError("HTTP_HEADERS_TIMEOUT_SECONDS must not be above HTTP_REQUEST_TIMEOUT_SECONDS.");
  }

  return {
    production,
    port: integer(env, "PORT", 4000, 0, 65535),
    host: optional(env, "HOST") ?? "0.0.0.0",
    databaseUrl,
    dataDir,
    databasePoolSize: integer(env, "DATABASE_POOL_SIZE", 10, 1, 500),
    redisUrl: optional(env, "REDIS_URL"),
    operatorApiKey: operatorApiKey!,
    jwtSecret: jwtSecret!,
    jwksUrl: optional(env, "AUTH_JWKS_URL"),
    jwtIssuer: optional(env, "AUTH_JWT_ISSUER"),
    jwtAudience: optional(env, "AUTH_JWT_AUDIENCE"),
    pricePerMillionTokens,
    reservationTtlSeconds: integer(env, "RESERVATION_TTL_SECONDS", 300, 1, 86_400),
    schedulerIntervalSeconds: integer(env, "SCHEDULER_INTERVAL_SECONDS", 30, 0, 86_400),
    tokenRequestsPerHour: integer(env, "TOKEN_REQUESTS_PER_HOUR", 10, 1, 10_000),
    maxQueryDepth: integer(env, "MAX_QUERY_DEPTH", 12, 2, 100),
    maxQueryTokens: integer(env, "MAX_QUERY_TOKENS", 2000, 100, 100_000),
    maxAliases: integer(env, "MAX_ALIASES", 30, 1, 1000),
    maxQueryCost: integer(env, "MAX_QUERY_COST", 50_000, 100, 10_000_000),
    maxRequestBodyBytes: integer(env, "MAX_REQUEST_BODY_BYTES", 1_048_576, 1024, 67_108_864),
    maxSubscriptionsPerConnection: integer(env, "MAX_SUBSCRIPTIONS_PER_CONNECTION", 100, 1, 100_000),
    maxSubscriptionsPerMember: integer(env, "MAX_SUBSCRIPTIONS_PER_MEMBER", 1000, 1, 1_000_000),
    httpHeadersTimeoutMs,
    httpRequestTimeoutMs,
    httpKeepAliveTimeoutMs: integer(env, "HTTP_KEEP_ALIVE_TIMEOUT_SECONDS", 65, 1, 3600) * 1000,
    corsOrigins: corsOrigins(env, production),
    introspection: flag(env, "GRAPHQL_INTROSPECTION", !production),
    graphiql: flag(env, "GRAPHIQL", !production),
    metricsToken: metricsToken(env),
    trustedDocuments: flag(env, "TRUSTED_DOCUMENTS", false),
    accessTokenMaxTtlSeconds: integer(env, "ACCESS_TOKEN_MAX_TTL_SECONDS", 86_400, 60, 30 * 86_400),
    authFailuresPerMinute: integer(env, "AUTH_FAILURES_PER_MINUTE", 30, 1, 1_000_000),
    logLevel,
    generatedOperatorKey,
  };
}
