// GET /export/usage.csv?from=&to= (admins): the organisation's usage rows as RFC 4180 CSV, streamed in
// keyset-paginated batches and written only as fast as the client reads, so memory stays flat at any size.
import type { ServerResponse } from "node:http";
import { isAdmin, type Principal } from "../auth/principal.ts";
import { badInput, forbidden, notFound, unauthenticated } from "../errors.ts";
import { cycleAt } from "../organizations/cycle.ts";
import type { Runtime } from "../runtime.ts";
import { csvRecord, moneyText, resolveRange, type TimeRange, USAGE_CSV_COLUMNS } from "./rules.ts";

const BATCH = 5000;

/** ISO-8601 date (UTC midnight) or date-time; a date-time without an offset is read as UTC. */
const DATE_OR_DATE_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

export function parseBound(raw: string | null, field: string): Date | null {
  if (raw === null || raw === "") return null;
  const text = raw.trim();
  if (!DATE_OR_DATE_TIME.test(text)) {
    throw badInput(field, `${field} must be an ISO-8601 date or date-time such as 2026-11-01 or 2026-11-01T00:00:00Z; got "${raw}".`);
  }
  const zoned = text.includes("T") && !/(Z|[+-]\d{2}:?\d{2})$/.test(text) ? `${text}Z` : text;
  const date = new Date(zoned);
  if (Number.isNaN(date.getTime())) throw badInput(field, `${field} is not a valid date: "${raw}".`);
  return date;
}

interface ExportRow {
  id: string;
  position: string;
  timestamp: string;
  email: string;
  team: string | null;
  model: string;
  kind: string;
  inputTokens: string;
  outputTokens: string;
  cost: string;
  app: string | null;
  assistant: string | null;
}

const SELECT = `
SELECT u."id"::text AS "id", u."createdAt"::text AS "position",
       to_char(u."createdAt", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "timestamp",
       m."email", t."name" AS "team", md."key" AS "model", u."kind"::text AS "kind",
       u."inputTokens"::text AS "inputTokens", u."outputTokens"::text AS "outputTokens", u."cost"::text AS "cost",
       u."app", u."assistant"
  FROM "UsageRecord" u
  JOIN "Member" m ON m."id" = u."memberId"
  LEFT JOIN "Team" t ON t."id" = m."teamId"
  JOIN "Model" md ON md."id" = u."modelId"
 WHERE u."organizationId" = $1::uuid AND u."createdAt" < $3::timestamp`;

const FIRST_PAGE = `${SELECT} AND u."createdAt" >= $2::timestamp ORDER BY u."createdAt", u."id" LIMIT ${BATCH}`;
const NEXT_PAGE = `${SELECT} AND u."createdAt" >= $2::timestamp AND (u."createdAt" > $2::timestamp OR u."id" > $4::uuid)
 ORDER BY u."createdAt", u."id" LIMIT ${BATCH}`;

/** Resolves when the client has taken what was written (or has gone). */
function drained(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off("drain", done);
      response.off("close", done);
      resolve();
    };
    response.on("drain", done);
    response.on("close", done);
  });
}

const day = (date: Date) => date.toISOString().slice(0, 10);

/** Streams the caller's organisation's usage in [from, to) (query parameters) to `response` as CSV. */
export async function exportUsageCsv(runtime: Runtime, caller: Principal, query: URLSearchParams, response: ServerResponse): Promise<void> {
  if (caller.kind === "ANONYMOUS") throw unauthenticated("Authentication required: send Authorization: Bearer <token>.");
  if (!isAdmin(caller) || caller.kind !== "MEMBER") throw forbidden("Only an organisation admin may export usage.");
  const organization = await runtime.prisma.organization.findUnique({
    where: { id: caller.organizationId },
    select: { cycleAnchorDay: true },
  });
  if (!organization) throw notFound("Organization");
  const range: TimeRange = resolveRange(
    parseBound(query.get("from"), "from"),
    parseBound(query.get("to"), "to"),
    cycleAt(organization.cycleAnchorDay, runtime.clock.now()),
  );

  response.writeHead(200, {
    "content-type": "text/csv; charset=utf-8; header=present",
    "content-disposition": `attachment; filename="usage-${day(range.from)}-${day(range.to)}.csv"`,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  let gone = false;
  response.once("close", () => {
    gone = true;
  });
  if (!response.write(csvRecord(USAGE_CSV_COLUMNS))) await drained(response);

  const from = range.from.toISOString();
  const to = range.to.toISOString();
  let last: ExportRow | null = null;
  while (!gone) {
    const rows: ExportRow[] = last
      ? await runtime.db.raw.query<ExportRow>(NEXT_PAGE, [caller.organizationId, last.position, to, last.id])
      : await runtime.db.raw.query<ExportRow>(FIRST_PAGE, [caller.organizationId, from, to]);
    if (rows.length === 0) break;
    let chunk = "";
    for (const row of rows) {
      chunk += csvRecord([
        row.timestamp,
        row.email,
        row.team,
        row.model,
        row.kind,
        row.inputTokens,
        row.outputTokens,
        moneyText(row.cost),
        row.app,
        row.assistant,
      ]);
    }
    if (!response.write(chunk)) await drained(response);
    if (rows.length < BATCH) break;
    last = rows[rows.length - 1]!;
  }
  response.end();
}
