// Whether an error means a dependency (PostgreSQL, Redis) could not be reached, rather than a fault of ours or of
// the request: the one place that knows how the drivers say so. Such errors answer SERVICE_UNAVAILABLE (retry later).

/** Socket errors of a connection refused, reset, timed out or unresolvable. */
const SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

/**
 * PostgreSQL SQLSTATEs of an unusable connection: class 08 (connection exception), 57P01–57P03 (the server is
 * shutting down, crashed or is starting) and 53300 (too many connections).
 */
const isUnreachableSqlState = (code: string) => /^08[0-9A-Z]{3}$/.test(code) || /^57P0[123]$/.test(code) || code === "53300";

/** Prisma's codes for an unreachable database, a connection closed under it, and a pool that gave none in time. */
const PRISMA_CODES = new Set(["P1001", "P1002", "P1017", "P2024"]);

/** What Prisma's driver adapters report for the same (adapter-pg's and the shared error kinds). */
const ADAPTER_KINDS = new Set(["DatabaseNotReachable", "ConnectionClosed", "SocketTimeout", "TooManyConnections", "TlsConnectionError"]);

/** node-postgres and ioredis raise these as plain Errors, without a code. */
const DRIVER_MESSAGES =
  /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect|Connection is closed|Reached the max retries per request limit|Stream isn't writeable)/;

export function isUnreachable(error: unknown): boolean {
  const seen = new Set<unknown>();
  const queue: unknown[] = [error];
  while (queue.length > 0) {
    const current = queue.shift();
    if (typeof current !== "object" || current === null || seen.has(current)) continue;
    seen.add(current);
    const { code, kind, message } = current as Record<string, unknown>;
    if (typeof code === "string" && (SOCKET_CODES.has(code) || PRISMA_CODES.has(code) || isUnreachableSqlState(code))) return true;
    if (typeof kind === "string" && ADAPTER_KINDS.has(kind)) return true;
    if (typeof message === "string" && DRIVER_MESSAGES.test(message)) return true;
    const record = current as Record<string, unknown>;
    queue.push(record.cause, record.originalError, record.meta, (record.meta as Record<string, unknown> | undefined)?.driverAdapterError);
    if (Array.isArray(record.errors)) queue.push(...record.errors);
  }
  return false;
}
