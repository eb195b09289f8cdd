// Walks the whole schema as each principal: one query per root field and one node(id:) per object, every field
// reachable selected, and checks each field that answers is one the contract's table lets that principal read (and
// that what it may read is not refused). Generated from the built schema, so new types and fields are covered.
// Its operations are generated or written out on purpose (probes of who may read what), not the client's documents.
import {
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLObjectType,
  getNamedType,
  isAbstractType,
  isLeafType,
  isNonNullType,
  isObjectType,
} from "graphql";
import { describe, expect, it } from "vitest";
import { schema } from "../../src/schema/index.ts";
import type { Api, GraphQLErrorShape } from "../support/client.ts";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

// A whole-schema selection is far past the production query limits; the limits are not what this test is about.
const server = await startServer({
  env: { MAX_QUERY_TOKENS: "100000", MAX_QUERY_COST: "10000000", MAX_QUERY_DEPTH: "100", MAX_ALIASES: "1000" },
});

type Who = "OPERATOR" | "ADMIN" | "MEMBER" | "SERVICE" | "SUSPENDED";

/** Fields every principal that reaches their parent may read (structure, not data of its own). */
const STRUCTURE = new Set(["PageInfo", "Viewer", "MemberConnection", "MemberEdge", "TokenRequestConnection", "TokenRequestEdge"]);

/** The contract's table, written out independently of the server's rules. `self` marks what a member reads of itself only. */
const MEMBER_READS: Record<string, "all" | string[]> = {
  Query: ["viewer", "member", "node", "models", "pendingTokenRequestCount", "tokenRequests", "presets", "organization"],
  Member: "all",
  Balance: "all",
  AllocationOverride: "all",
  DrawLimits: "all",
  Team: "all",
  Organization: ["id", "name", "cycleAnchorDay", "cycleStart", "cycleEnd"],
  Model: ["id", "key", "displayName", "enabled", "inputPricePerMillion", "outputPricePerMillion"],
  TokenRequest: "all",
  TokenRequestDecision: "all",
  Reservation: "all",
  DistributionPreset: ["name", "description"],
};
const SERVICE_READS: Record<string, "all" | string[]> = {
  Query: ["viewer", "member", "node", "models", "presets", "organization"],
  Member: ["id", "email", "name", "role", "team", "suspended", "inference", "training", "limits", "createdAt"],
  Balance: "all",
  DrawLimits: "all",
  Team: "all",
  Organization: ["id", "name", "cycleAnchorDay", "cycleStart", "cycleEnd", "members"],
  Model: ["id", "key", "displayName", "enabled", "inputPricePerMillion", "outputPricePerMillion"],
  Reservation: "all",
  TokenRequest: [
    "id",
    "kind",
    "amount",
    "status",
    "balanceAtRequest",
    "currentBalance",
    "ageSeconds",
    "createdAt",
    "decidedAt",
    "autoApproved",
    "member",
  ],
  DistributionPreset: ["name", "description"],
};
const SUSPENDED_READS: Record<string, "all" | string[]> = {
  Query: ["viewer", "member", "node"],
  Viewer: ["principal", "member"],
  Member: ["id", "email", "name", "role", "suspended", "inference", "training", "override", "limits", "createdAt"],
  Balance: "all",
  AllocationOverride: "all",
  DrawLimits: "all",
};

function mayRead(who: Who, type: string, field: string): boolean {
  if (who === "ADMIN") return true;
  // The operator reads any organisation, but not its API keys (the organisation's own credentials).
  if (who === "OPERATOR") return !(type === "Organization" && field === "apiKeys");
  const table = who === "MEMBER" ? MEMBER_READS : who === "SERVICE" ? SERVICE_READS : SUSPENDED_READS;
  if (STRUCTURE.has(type) && !(type in table)) return true;
  const rule = table[type];
  return rule === "all" || (rule?.includes(field) ?? false);
}

/** Arguments the walk must pass (required ones without defaults). */
function argumentsOf(field: GraphQLField<unknown, unknown>, ids: { member: string; organization: string }): string | null {
  const required = field.args.filter((arg) => isNonNullType(arg.type) && arg.defaultValue === undefined);
  if (required.length === 0) return "";
  const values: Record<string, string> = { "member.id": `"${ids.member}"`, "quotePurchase.tokens": "1000000" };
  const given = required.map((arg) => (values[`${field.name}.${arg.name}`] ? `${arg.name}: ${values[`${field.name}.${arg.name}`]}` : null));
  return given.every(Boolean) ? `(${given.join(", ")})` : null;
}

/** Every field reachable from `type`, no type twice on one path. */
function selectionOf(type: GraphQLObjectType, onPath: Set<string>, ids: { member: string; organization: string }): string {
  const parts: string[] = ["__typename"];
  for (const field of Object.values(type.getFields())) {
    const args = argumentsOf(field, ids);
    if (args === null) continue;
    const named = getNamedType(field.type);
    if (isLeafType(named)) parts.push(field.name);
    else if (isObjectType(named) && !onPath.has(named.name)) {
      parts.push(`${field.name}${args} { ${selectionOf(named, new Set([...onPath, named.name]), ids)} }`);
    }
  }
  return parts.join(" ");
}

interface Observation {
  read: Set<string>;
  refused: Set<string>;
}

/** Records `Type.field` for every field with a value, and for every refused one (from the errors' paths). */
function observe(root: GraphQLObjectType, data: unknown, errors: GraphQLErrorShape[], into: Observation, nodeType?: string): void {
  const visit = (type: GraphQLNamedType, value: unknown) => {
    if (value === null || value === undefined) return;
    if (Array.isArray(value)) {
      for (const item of value) visit(type, item);
      return;
    }
    if (isLeafType(type)) return;
    const record = value as Record<string, unknown>;
    const concrete = isAbstractType(type) ? schema.getType(String(record.__typename)) : type;
    if (!isObjectType(concrete)) return;
    for (const [name, fieldValue] of Object.entries(record)) {
      if (name === "__typename" || fieldValue === null || fieldValue === undefined) continue;
      into.read.add(`${concrete.name}.${name}`);
      visit(getNamedType(concrete.getFields()[name]!.type), fieldValue);
    }
  };
  visit(root, data);
  for (const error of errors) {
    const code = error.extensions?.code;
    if (!error.path || !["FORBIDDEN", "NOT_FOUND", "UNAUTHENTICATED"].includes(String(code))) {
      throw new Error(`Unexpected error ${JSON.stringify(error)}`);
    }
    let type: GraphQLNamedType = root;
    let label = "";
    for (const segment of error.path) {
      if (typeof segment === "number") continue;
      const object: GraphQLNamedType | undefined | null = isAbstractType(type) ? schema.getType(nodeType!) : type;
      if (!isObjectType(object)) break;
      label = `${object.name}.${segment}`;
      type = getNamedType(object.getFields()[segment]!.type);
    }
    into.refused.add(label);
  }
}

async function walk(api: Api, ids: { member: string; organization: string }, nodeIds: string[], operator: boolean) {
  const query = schema.getQueryType()!;
  const seen: Observation = { read: new Set(), refused: new Set() };
  for (const field of Object.values(query.getFields())) {
    if (field.name === "node") continue;
    const args = field.name === "organization" && operator ? `(id: "${ids.organization}")` : argumentsOf(field, ids);
    if (args === null) continue;
    const named = getNamedType(field.type);
    const selection = isObjectType(named) ? ` { ${selectionOf(named, new Set([named.name]), ids)} }` : "";
    const response = await api.request(`{ ${field.name}${args}${selection} }`);
    observe(query, response.data, response.errors ?? [], seen);
  }
  for (const id of nodeIds) {
    const typename = Buffer.from(id, "base64").toString().split(":")[0]!;
    const type = schema.getType(typename) as GraphQLObjectType;
    const response = await api.request(
      `query($id: ID!) { node(id: $id) { ... on ${typename} { ${selectionOf(type, new Set([typename]), ids)} } } }`,
      {
        id,
      },
    );
    observe(query, response.data, response.errors ?? [], seen, typename);
  }
  return seen;
}

describe("reads follow the principal, field by field", () => {
  it("walks every reachable field as operator, admin, member, service key and suspended member", async () => {
    const seed = await seedOrganization(server, { planBudget: "100.00" });
    await seed.fund(5_000_000);
    const [memberId, otherId, suspendedId] = await seed.addMembers([
      { name: "Mia", teamName: "Research" },
      { name: "Oto" },
      { name: "Sus" },
    ]);
    await seed.admin.execute(
      `mutation { upsertModel(input: { key: "m1", inputPricePerMillion: "100", outputPricePerMillion: "100", cap: "5.00" }) { id } }`,
    );
    await seed.admin.execute(`mutation { setSpendThresholds(percents: [1]) { id } }`);
    await seed.admin.execute(`mutation($id: ID!) { setOverride(input: { memberId: $id, floor: 200000 }) { id } }`, { id: memberId });
    const member = await seed.as(memberId!);
    const service = await seed.serviceKey();
    const { requestTokens } = await member.execute(`mutation { requestTokens(amount: 1000, reason: "secret reason") { id } }`);
    await seed.admin.execute(`mutation($ids: [ID!]) { approveTokenRequests(ids: $ids, note: "secret note") { succeeded } }`, {
      ids: [requestTokens.id],
    });
    await service.execute(
      `mutation($id: ID!) { recordUsage(input: { memberId: $id, modelKey: "m1", inputTokens: 10000, outputTokens: 10000, idempotencyKey: "walk-1" }) { id } }`,
      { id: memberId },
    );
    const { authorizeUsage } = await service.execute(
      `mutation($id: ID!) { authorizeUsage(input: { memberId: $id, modelKey: "m1", estimatedTokens: 10 }) { reservation { id } } }`,
      { id: memberId },
    );
    await seed.admin.execute(`mutation($id: ID!) { setMemberSuspended(memberId: $id, suspended: true) { id } }`, { id: suspendedId });
    const suspended = await seed.as(suspendedId!);

    // Every object the organisation has, by id, for node(id:).
    const everything = await seed.admin.execute(`{
      organization { id members { edges { node { id team { id } } } } purchases { edges { node { id } } } apiKeys { id } }
      models { id } spendThresholds { id } tokenRequests { edges { node { id } } }
    }`);
    const nodeIds: string[] = [
      everything.organization.id,
      ...everything.organization.members.edges.flatMap((e: any) => [e.node.id, e.node.team?.id].filter(Boolean)),
      ...everything.organization.purchases.edges.map((e: any) => e.node.id),
      ...everything.organization.apiKeys.map((k: any) => k.id),
      ...everything.models.map((m: any) => m.id),
      ...everything.spendThresholds.map((t: any) => t.id),
      ...everything.tokenRequests.edges.map((e: any) => e.node.id),
      authorizeUsage.reservation.id,
    ];

    const principals: [Who, Api, string][] = [
      ["OPERATOR", seed.operator, memberId!],
      ["ADMIN", seed.admin, memberId!],
      ["MEMBER", member, otherId!],
      ["SERVICE", service, memberId!],
      ["SUSPENDED", suspended, suspendedId!],
    ];
    const leaks: string[] = [];
    const overBlocked: string[] = [];
    let fieldsRead = 0;
    for (const [who, api, aMember] of principals) {
      const seen = await walk(api, { member: aMember, organization: seed.organizationId }, nodeIds, who === "OPERATOR");
      fieldsRead += seen.read.size;
      for (const label of seen.read) {
        const [type, field] = label.split(".") as [string, string];
        // Of another member, a member reads the name alone (a deciding admin's); that is checked below.
        if (who === "MEMBER" && type === "Member") continue;
        if (!mayRead(who, type, field)) leaks.push(`${who} read ${label}`);
      }
      for (const label of seen.refused) {
        const [type, field] = label.split(".") as [string, string];
        if (mayRead(who, type, field) && type !== "Query" && type !== "Member") overBlocked.push(`${who} refused ${label}`);
      }
    }
    expect(leaks).toEqual([]);
    expect(overBlocked).toEqual([]);
    expect(fieldsRead).toBeGreaterThan(200);

    // A member reads the deciding admin's name, not its record or balances; its own request in full.
    const { node } = await member
      .request(`query($id: ID!) { node(id: $id) { ... on TokenRequest { reason decisionNote decidedBy { name } } } }`, {
        id: requestTokens.id,
      })
      .then((r) => r.data!);
    expect(node).toEqual({ reason: "secret reason", decisionNote: "secret note", decidedBy: { name: null } });
    for (const field of ["id", "email", "inference { limit }", "role"]) {
      const response = await member.request(`query($id: ID!) { node(id: $id) { ... on TokenRequest { decidedBy { ${field} } } } }`, {
        id: requestTokens.id,
      });
      expect(response.data?.node?.decidedBy ?? null, field).toBeNull();
      expect(response.errors?.[0]?.extensions?.code, field).toBe("FORBIDDEN");
    }
  });
});
