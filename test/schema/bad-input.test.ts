// Generated from the printed schema: bad and boundary values at every argument and input field of every mutation
// (and of every query field), as each principal. No answer may be INTERNAL_SERVER_ERROR, a refused mutation must leave
// its organisation's books exactly as they were, and tokens are conserved at the end. A new field is covered
// without editing this file.
import { readFileSync } from "node:fs";
import { decodeGlobalID, encodeGlobalID } from "@pothos/plugin-relay";
import {
  buildSchema,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
} from "graphql";
import { describe, expect, it } from "vitest";
import { uuidV7 } from "../../src/db/ids.ts";
import type { Api } from "../support/client.ts";
import { seedOrganization, unique } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const server = await startServer();
const prisma = server.app.runtime.prisma;
const schema = buildSchema(readFileSync(new URL("../../schema/schema.graphql", import.meta.url), "utf8"));

const MAX = Number.MAX_SAFE_INTEGER;
const nowhere = (typename: string) => encodeGlobalID(typename, uuidV7(new Date()));

/** What an organisation needs so that most operations get past their first check. */
interface World {
  organizationId: string;
  rowOrganizationId: string;
  /** A member the cases act on (never the principal itself, so suspensions and the like do not end the run). */
  victimId: string;
  /** Another organisation's member. */
  foreignId: string;
}

const badScalars: Record<string, unknown[]> = {
  SafeInt: [-1, 1.5, 2 ** 53, MAX, 0, "9".repeat(400), "abc", true],
  Int: [-1, 2 ** 31, -(2 ** 31) - 1, 1.5, "1", 0],
  Float: [-1, 1e308, -0.5, 101, "x"],
  Money: ["1e400", "-1", "123456789012345678901234.00", "abc", "0.000000001", "999999999999.99", "1234567890123.00", 1e21, ""],
  String: ["\u0000", "a\u202Eb", "x".repeat(100_000), "\uD800", "", "  ", "<script>@x.yz", "=1+1", "a\u200Bb", "a\u0007b"],
  Boolean: ["true", 1],
  DateTime: ["not a date", "+275760-09-13T00:00:00.001Z", "2026-13-45T00:00:00Z", 0],
};

function badIds(world: World): unknown[] {
  return [
    "abc",
    "",
    "\u0000",
    "Zm9v",
    encodeGlobalID("Member", "not-a-uuid"),
    encodeGlobalID("Nope", uuidV7(new Date())),
    nowhere("Member"),
    nowhere("TokenRequest"),
    nowhere("Reservation"),
    nowhere("Model"),
    nowhere("Organization"),
    world.foreignId,
    "x".repeat(10_000),
  ];
}

/** A value of the type that passes coercion (and, where it can, the operation's checks). */
function baseValue(type: GraphQLInputType, name: string, world: World, depth = 0): unknown {
  if (isNonNullType(type)) return baseValue(type.ofType, name, world, depth);
  if (isListType(type)) return [baseValue(type.ofType, name, world, depth + 1)];
  if (isEnumType(type)) return type.getValues()[0]!.value;
  if (isInputObjectType(type)) {
    const value: Record<string, unknown> = {};
    for (const field of Object.values(type.getFields())) {
      if (isNonNullType(field.type) || depth === 0) value[field.name] = baseValue(field.type, field.name, world, depth + 1);
    }
    return value;
  }
  switch (type.name) {
    case "ID":
      return /organization/i.test(name) ? world.organizationId : world.victimId;
    case "SafeInt":
    case "Int":
      return 1;
    case "Float":
      return 1;
    case "Money":
      return "1.00";
    case "Boolean":
      return false;
    case "DateTime":
      return new Date().toISOString();
    default:
      if (name === "modelKey") return "m";
      return /email/i.test(name) ? `${unique("fuzz")}@example.com` : unique("fuzz");
  }
}

function badValues(type: GraphQLInputType, world: World): unknown[] {
  const named = getNamedType(type);
  const values: unknown[] = [null];
  if (isListType(isNonNullType(type) ? type.ofType : type))
    values.push(
      [],
      Array.from({ length: 1000 }, () => null),
    );
  if (isEnumType(named)) values.push("UNKNOWN_VALUE", "");
  else if (named.name === "ID") values.push(...badIds(world));
  else if (isLeafType(named)) values.push(...(badScalars[named.name] ?? badScalars.String!));
  return values;
}

/** Every place a value goes: the argument itself, list elements and input fields (two levels deep). */
function* paths(
  type: GraphQLInputType,
  path: (string | number)[],
  depth = 0,
): Generator<{ path: (string | number)[]; type: GraphQLInputType }> {
  yield { path, type };
  const inner = isNonNullType(type) ? type.ofType : type;
  if (isListType(inner)) {
    yield* paths(inner.ofType, [...path, 0], depth + 1);
    return;
  }
  if (isInputObjectType(inner) && depth < 3) {
    for (const field of Object.values(inner.getFields())) yield* paths(field.type, [...path, field.name], depth + 1);
  }
}

function setAt(root: Record<string, unknown>, path: (string | number)[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(root);
  let target: any = copy;
  for (const key of path.slice(0, -1)) {
    if (target[key] == null) target[key] = typeof path[path.indexOf(key) + 1] === "number" ? [] : {};
    target = target[key];
  }
  target[path.at(-1)!] = value;
  return copy;
}

interface Case {
  operation: "query" | "mutation";
  field: string;
  document: string;
  variables: Record<string, unknown>;
  label: string;
}

function selection(field: GraphQLField<unknown, unknown>): string {
  return isLeafType(getNamedType(field.type)) ? "" : "{ __typename }";
}

function casesOf(operation: "query" | "mutation", root: GraphQLObjectType, world: World): Case[] {
  const cases: Case[] = [];
  for (const field of Object.values(root.getFields())) {
    if (field.args.length === 0) continue;
    const declare = (arg: GraphQLArgument) => `$${arg.name}: ${arg.type.toString()}`;
    const document = `${operation}(${field.args.map(declare).join(", ")}) { ${field.name}(${field.args
      .map((arg) => `${arg.name}: $${arg.name}`)
      .join(", ")}) ${selection(field)} }`;
    const base: Record<string, unknown> = {};
    for (const arg of field.args) base[arg.name] = baseValue(arg.type, arg.name, world);
    cases.push({ operation, field: field.name, document, variables: base, label: `${field.name} base` });
    for (const arg of field.args) {
      for (const { path, type } of paths(arg.type, [arg.name])) {
        for (const value of badValues(type, world)) {
          cases.push({
            operation,
            field: field.name,
            document,
            variables: setAt(base, path, value),
            label: `${field.name} ${path.join(".")} = ${JSON.stringify(value)?.slice(0, 40)}`,
          });
        }
      }
    }
  }
  return cases;
}

/** The organisation's books: balances, pools, ledger, purchases, usage and reservations. */
async function books(organizationId: string): Promise<string> {
  const [row] = await prisma.$queryRawUnsafe<{ books: string }[]>(
    `SELECT concat_ws('|',
       (SELECT string_agg(concat_ws(',', "memberId", "kind", "limit", "used", "reserved", "usedOnDay"), ';' ORDER BY "memberId", "kind")
          FROM "Balance" WHERE "organizationId" = $1::uuid),
       (SELECT string_agg(concat_ws(',', "kind", "tokens", "purchasedTotal", "consumedInClosedCycles"), ';' ORDER BY "kind")
          FROM "Pool" WHERE "organizationId" = $1::uuid),
       (SELECT count(*) || ':' || COALESCE(max("id"), 0) FROM "LedgerEntry" WHERE "organizationId" = $1::uuid),
       (SELECT count(*) FROM "Purchase" WHERE "organizationId" = $1::uuid),
       (SELECT count(*) || ':' || COALESCE(sum("tokens"), 0) FROM "UsageRecord" WHERE "organizationId" = $1::uuid),
       (SELECT string_agg("id"::text || "status"::text, ';' ORDER BY "id") FROM "Reservation" WHERE "organizationId" = $1::uuid),
       (SELECT string_agg(concat_ws(',', "tokens", "cost"), ';') FROM "UsageTotal" WHERE "organizationId" = $1::uuid)
     ) AS books`,
    organizationId,
  );
  return row!.books;
}

async function world(): Promise<{ world: World; principals: Record<string, Api> }> {
  const seed = await seedOrganization(server, { planBudget: "1000.00" });
  const other = await seedOrganization(server);
  await seed.fund(50_000_000);
  const [victimId, memberId] = await seed.addMembers([{ name: "Victim" }, { name: "Member" }]);
  await seed.admin.execute(`mutation { upsertModel(input: { key: "m", inputPricePerMillion: "1", outputPricePerMillion: "2" }) { id } }`);
  return {
    world: {
      organizationId: seed.organizationId,
      rowOrganizationId: decodeGlobalID(seed.organizationId).id,
      victimId: victimId!,
      foreignId: other.adminId,
    },
    principals: {
      operator: seed.operator,
      admin: seed.admin,
      member: await seed.as(memberId!),
      service: await seed.serviceKey(),
    },
  };
}

const CONSERVATION = `
SELECT p."organizationId", p."kind", p."purchasedTotal", p."tokens", p."consumedInClosedCycles",
       COALESCE((SELECT sum(b."limit") FROM "Balance" b WHERE b."organizationId" = p."organizationId" AND b."kind" = p."kind"), 0) AS allocated
  FROM "Pool" p
 WHERE p."purchasedTotal" <> p."tokens" + p."consumedInClosedCycles"
       + COALESCE((SELECT sum(b."limit") FROM "Balance" b WHERE b."organizationId" = p."organizationId" AND b."kind" = p."kind"), 0)`;

describe("bad input, generated from the schema", () => {
  it("never answers INTERNAL_SERVER_ERROR, changes nothing when it refuses, and conserves tokens", async () => {
    const principalNames = ["operator", "admin", "member", "service"] as const;
    const failures: string[] = [];
    let count = 0;
    const started = performance.now();
    // One organisation per principal, its cases one after another (so a refusal's books can be compared), the
    // principals side by side.
    await Promise.all(
      principalNames.map(async (name) => {
        const { world: w, principals } = await world();
        const api = principals[name]!;
        // Reads change nothing: their arguments are thrown only as the two kinds of member.
        const reads = name === "admin" || name === "member" ? casesOf("query", schema.getQueryType()!, w) : [];
        const cases = [...casesOf("mutation", schema.getMutationType()!, w), ...reads];
        let before = await books(w.rowOrganizationId);
        for (const testCase of cases) {
          count++;
          // A kept-alive connection the server closed while idle resets once; a second failure is the server's.
          const send = () => api.request(testCase.document, testCase.variables);
          const result = await send()
            .catch(send)
            .catch((error: Error) => {
              failures.push(`${name}: ${testCase.label}: no answer (${error.message}: ${String(error.cause)})`);
              return null;
            });
          if (!result) continue;
          for (const error of result.errors ?? []) {
            const code = error.extensions?.code;
            if (!code || code === "INTERNAL_SERVER_ERROR" || result.status >= 500) {
              failures.push(`${name}: ${testCase.label}: ${code} ${error.message}`);
            }
            if (code === "BAD_USER_INPUT" && !error.extensions?.field) {
              failures.push(`${name}: ${testCase.label}: BAD_USER_INPUT names no field: ${error.message}`);
            }
          }
          // A request refused before execution (variables that do not coerce) ran nothing; anything else may have.
          const executed = result.data != null || (result.errors ?? []).some((error) => error.path);
          if (testCase.operation === "mutation" && executed) {
            const after = await books(w.rowOrganizationId);
            if (result.errors?.length && after !== before) failures.push(`${name}: ${testCase.label}: refused, yet the books changed`);
            before = after;
          }
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(`bad-input cases: ${count} (${principalNames.length} principals) in ${seconds.toFixed(1)} s`);
    if (failures.length) console.log(failures.join("\n"));
    expect(failures.slice(0, 50)).toEqual([]);
    expect(count).toBeGreaterThan(2000);
    expect(await prisma.$queryRawUnsafe(CONSERVATION)).toEqual([]);
  }, 600_000);
});
