// What the database said, by its codes rather than its messages (messages change between drivers and versions).
import { Prisma } from "./generated/client.ts";

/** SQLSTATE of a unique-index violation. */
const UNIQUE_VIOLATION = "23505";

interface DriverError {
  code?: unknown;
  constraint?: unknown;
}

interface AdapterCause {
  kind?: string;
  originalCode?: string;
  constraint?: { index?: string };
}

/**
 * A unique index refused a row: P2002 from Prisma's own queries, the driver adapter's cause from Prisma's raw
 * queries (P2010), SQLSTATE 23505 from statements sent to pg or PGlite directly. With `index`, only that one.
 */
export function isUniqueViolation(error: unknown, index?: string): boolean {
  if (error instanceof Prisma.PrismaClientKnownRequestError) {
    const cause = (error.meta?.driverAdapterError as { cause?: AdapterCause } | undefined)?.cause;
    const unique = error.code === "P2002" || cause?.kind === "UniqueConstraintViolation" || cause?.originalCode === UNIQUE_VIOLATION;
    return unique && (!index || cause?.constraint?.index === index);
  }
  const { code, constraint } = (error ?? {}) as DriverError;
  return code === UNIQUE_VIOLATION && (!index || constraint === index);
}
