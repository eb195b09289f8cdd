import { describe, expect, it } from "vitest";
import {
  AuthorizeUsageDocument,
  MemberDocument,
  type MemberFilter,
  MembersDocument,
  type MembersQuery,
  OrganizationSettingsDocument,
  SetDefaultLimitsDocument,
  SetMemberLimitsDocument,
  SetMemberSuspendedDocument,
  UpsertModelDocument,
} from "../../src/client/generated/graphql.ts";
import { Api, pick } from "../support/client.ts";
import { seedOrganization, unique } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const server = await startServer();

async function directory() {
  const seed = await seedOrganization(server);
  await seed.fund(10_000_000);
  const tag = unique("x");
  const ids = await seed.addMembers([
    { email: `ada.${tag}@example.com`, name: "Ada Lovelace", teamName: "Research" },
    { email: `grace.${tag}@example.com`, name: "Grace HOPPER", teamName: "Platform" },
    { email: `alan.${tag}@example.com`, name: "Alan Turing", teamName: "Research" },
    { email: `hopper-fan.${tag}@example.com` },
  ]);
  return { seed, ids, tag };
}

describe("Organization.members", () => {
  it("pages through every member in order with a total count", async () => {
    const { seed, ids } = await directory();
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const { organization }: MembersQuery = await seed.admin.execute(MembersDocument, { first: 2, after });
      expect(organization.members.totalCount).toBe(5);
      seen.push(...organization.members.edges.map((edge) => edge.node.id));
      after = organization.members.pageInfo.hasNextPage ? organization.members.pageInfo.endCursor : null;
      pages++;
    } while (after);
    expect(pages).toBe(3);
    // oldest first: the admin, then the batch in the order it was given
    expect(seen).toEqual([seed.adminId, ...ids]);
  });

  it("searches email and name in any case, filters by team and by override", async () => {
    const { seed, ids, tag } = await directory();
    const search = async (filter: MemberFilter) => {
      const { organization } = await seed.admin.execute(MembersDocument, { first: 50, filter });
      return { total: organization.members.totalCount, ids: organization.members.edges.map((edge) => edge.node.id).sort() };
    };
    expect(await search({ search: "HOPPER" })).toEqual({ total: 2, ids: [ids[1], ids[3]].sort() });
    expect(await search({ search: `ADA.${tag.toUpperCase()}` })).toEqual({ total: 1, ids: [ids[0]] });
    expect(await search({ search: "nobody-here" })).toEqual({ total: 0, ids: [] });

    const { organization } = await seed.admin.execute(MembersDocument, { first: 1, filter: { search: "ada lovelace" } });
    const researchId = organization.members.edges[0]!.node.team!.id;
    expect(await search({ teamId: researchId })).toEqual({ total: 2, ids: [ids[0], ids[2]].sort() });
    expect(await search({ teamId: researchId, search: "turing" })).toEqual({ total: 1, ids: [ids[2]] });
    expect(await search({ overridesOnly: true })).toEqual({ total: 0, ids: [] });
    expect(await search({ overridesOnly: false })).toMatchObject({ total: 5 });

    const badTeam = await seed.admin.errorOf(MembersDocument, { filter: { teamId: "garbage" } });
    expect(badTeam.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "filter.teamId" });
  });

  it("does not show another organisation's team's members", async () => {
    const { seed } = await directory();
    const other = await directory();
    const { organization } = await other.seed.admin.execute(MembersDocument, { first: 1, filter: { search: "ada lovelace" } });
    const theirTeam = organization.members.edges[0]!.node.team!.id;
    const { organization: ours } = await seed.admin.execute(MembersDocument, { first: 50, filter: { teamId: theirTeam } });
    expect(ours.members.totalCount).toBe(0);
  });

  it("is for admins, services and the operator; plain members are FORBIDDEN", async () => {
    const { seed, ids } = await directory();
    const member = await seed.as(ids[0]!);
    expect((await member.errorOf(MembersDocument, { first: 5 })).extensions?.code).toBe("FORBIDDEN");
    const service = await seed.serviceKey();
    expect((await service.execute(MembersDocument, { first: 10 })).organization.members.totalCount).toBe(5);
    const { organization } = await seed.operator.execute(MembersDocument, { organizationId: seed.organizationId });
    expect(organization.members.totalCount).toBe(5);
    expect((await new Api(server.url).errorOf(MembersDocument, {})).extensions?.code).toBe("UNAUTHENTICATED");
  });
});

describe("setMemberSuspended", () => {
  it("suspends and reinstates a member of the organisation", async () => {
    const { seed, ids } = await directory();
    expect(
      pick(
        (await seed.admin.execute(SetMemberSuspendedDocument, { memberId: ids[0]!, suspended: true })).setMemberSuspended,
        "id",
        "suspended",
      ),
    ).toEqual({
      id: ids[0],
      suspended: true,
    });
    const { member } = await seed.admin.execute(MemberDocument, { memberId: ids[0]! });
    expect(member!.suspended).toBe(true);
    expect(
      (await seed.admin.execute(SetMemberSuspendedDocument, { memberId: ids[0]!, suspended: false })).setMemberSuspended.suspended,
    ).toBe(false);
  });

  it("a suspended member is denied usage until reinstated", async () => {
    const { seed, ids } = await directory();
    await seed.admin.execute(UpsertModelDocument, { input: { key: "m", inputPricePerMillion: "1.00", outputPricePerMillion: "1.00" } });
    const service = await seed.serviceKey();
    const input = { memberId: ids[0]!, modelKey: "m", estimatedTokens: 1000 };
    await seed.admin.execute(SetMemberSuspendedDocument, { memberId: ids[0]!, suspended: true });
    expect(pick((await service.execute(AuthorizeUsageDocument, { input })).authorizeUsage, "allowed", "denialReason")).toEqual({
      allowed: false,
      denialReason: "MEMBER_SUSPENDED",
    });
    await seed.admin.execute(SetMemberSuspendedDocument, { memberId: ids[0]!, suspended: false });
    expect(pick((await service.execute(AuthorizeUsageDocument, { input })).authorizeUsage, "allowed", "denialReason")).toEqual({
      allowed: true,
      denialReason: null,
    });
  });

  it("refuses plain members, other organisations and anonymous callers", async () => {
    const { seed, ids } = await directory();
    const other = await directory();
    expect((await seed.admin.errorOf(SetMemberSuspendedDocument, { memberId: other.ids[0]!, suspended: true })).extensions?.code).toBe(
      "NOT_FOUND",
    );
    const member = await seed.as(ids[0]!);
    expect((await member.errorOf(SetMemberSuspendedDocument, { memberId: ids[1]!, suspended: true })).extensions?.code).toBe("FORBIDDEN");
    expect((await new Api(server.url).errorOf(SetMemberSuspendedDocument, { memberId: ids[1]!, suspended: true })).extensions?.code).toBe(
      "UNAUTHENTICATED",
    );
    const { member: theirs } = await other.seed.admin.execute(MemberDocument, { memberId: other.ids[0]! });
    expect(theirs!.suspended).toBe(false);
  });
});

describe("draw limits", () => {
  it("sets organisation defaults that members follow until overridden", async () => {
    const { seed, ids } = await directory();
    const { organization } = await seed.admin.execute(OrganizationSettingsDocument);
    expect(organization.defaultLimits).toEqual({ daily: null, monthly: null });
    expect(
      (await seed.admin.execute(SetDefaultLimitsDocument, { limits: { daily: 10_000, monthly: 200_000 } })).setDefaultLimits.defaultLimits,
    ).toEqual({
      daily: 10_000,
      monthly: 200_000,
    });
    // omitted fields stay, null clears
    expect((await seed.admin.execute(SetDefaultLimitsDocument, { limits: { daily: null } })).setDefaultLimits.defaultLimits).toEqual({
      daily: null,
      monthly: 200_000,
    });
    expect((await seed.admin.execute(MemberDocument, { memberId: ids[0]! })).member!.limits).toEqual({ daily: null, monthly: 200_000 });

    const { setMemberLimits } = await seed.admin.execute(SetMemberLimitsDocument, { memberId: ids[0]!, limits: { daily: 500 } });
    expect(setMemberLimits.limits).toEqual({ daily: 500, monthly: 200_000 });
    await seed.admin.execute(SetDefaultLimitsDocument, { limits: { daily: 1, monthly: 2 } });
    expect((await seed.admin.execute(MemberDocument, { memberId: ids[0]! })).member!.limits).toEqual({ daily: 500, monthly: 200_000 });
    expect((await seed.admin.execute(MemberDocument, { memberId: ids[1]! })).member!.limits).toEqual({ daily: 1, monthly: 2 });
    const override = await seed.admin.execute(SetMemberLimitsDocument, { memberId: ids[0]!, limits: { monthly: null } });
    expect(override.setMemberLimits.limits).toEqual({ daily: 500, monthly: null });

    // null: back to the defaults
    const back = await seed.admin.execute(SetMemberLimitsDocument, { memberId: ids[0]!, limits: null });
    expect(back.setMemberLimits.limits).toEqual({ daily: 1, monthly: 2 });
    // the member sees its own limits
    const member = await seed.as(ids[0]!);
    expect((await member.execute(MemberDocument, { memberId: ids[0]! })).member!.limits).toEqual({ daily: 1, monthly: 2 });
  });

  it("refuses negative or fractional limits naming the field, changing nothing", async () => {
    const { seed, ids } = await directory();
    expect((await seed.admin.errorOf(SetDefaultLimitsDocument, { limits: { daily: 5, monthly: -1 } })).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "limits.monthly",
    });
    expect((await seed.admin.errorOf(SetMemberLimitsDocument, { memberId: ids[0]!, limits: { daily: -3 } })).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "limits.daily",
    });
    expect((await seed.admin.errorOf(SetDefaultLimitsDocument, { limits: { daily: 2.5 } })).extensions?.code).toBe("BAD_USER_INPUT");
    const { organization } = await seed.admin.execute(OrganizationSettingsDocument);
    expect(organization.defaultLimits).toEqual({ daily: null, monthly: null });
    expect((await seed.admin.execute(MemberDocument, { memberId: ids[0]! })).member!.limits).toEqual({ daily: null, monthly: null });
  });

  it("is for admins of the organisation only", async () => {
    const { seed, ids } = await directory();
    const other = await directory();
    const member = await seed.as(ids[0]!);
    expect((await member.errorOf(SetDefaultLimitsDocument, { limits: { daily: 1 } })).extensions?.code).toBe("FORBIDDEN");
    expect((await member.errorOf(SetMemberLimitsDocument, { memberId: ids[0]!, limits: { daily: 1 } })).extensions?.code).toBe("FORBIDDEN");
    expect((await seed.admin.errorOf(SetMemberLimitsDocument, { memberId: other.ids[0]!, limits: { daily: 1 } })).extensions?.code).toBe(
      "NOT_FOUND",
    );
    expect((await new Api(server.url).errorOf(SetDefaultLimitsDocument, { limits: { daily: 1 } })).extensions?.code).toBe(
      "UNAUTHENTICATED",
    );
  });
});
