import { describe, expect, it } from "vitest";
import { AddMembersDocument, AllocationStatusDocument, MembersDocument } from "../../src/client/generated/graphql.ts";
import { Api, pick } from "../support/client.ts";
import { seedOrganization, unique } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const server = await startServer();

describe("addMembers", () => {
  it("adds members with teams and gives each the policy floor of each kind from the pool", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(2_000_000);
    const { addMembers } = await seed.admin.execute(AddMembersDocument, {
      members: [
        { email: "  Ada@Example.COM ", name: "Ada", teamName: "Research" },
        { email: "bob@example.com", role: "ADMIN", teamName: "Research" },
        { email: "cy@example.com" },
      ],
    });
    expect(addMembers.map((m) => m.email)).toEqual(["ada@example.com", "bob@example.com", "cy@example.com"]);
    expect(addMembers[0]).toMatchObject({ name: "Ada", role: "MEMBER", suspended: false, team: { name: "Research" } });
    expect(addMembers[1]!.role).toBe("ADMIN");
    expect(addMembers[1]!.team!.id).toBe(addMembers[0]!.team!.id);
    expect(addMembers[2]!.team).toBeNull();
    for (const member of addMembers) {
      expect(pick(member.inference, "limit", "used", "remaining", "reserved", "floor", "ceiling")).toEqual({
        limit: 500_000,
        used: 0,
        remaining: 500_000,
        reserved: 0,
        floor: 500_000,
        ceiling: 5_000_000,
      });
      expect(member.training.limit).toBe(500_000);
    }
    const { organization } = await seed.admin.execute(AllocationStatusDocument, { kind: "INFERENCE" });
    expect(pick(organization.allocationStatus, "kind", "purchased", "allocated", "used", "unallocated", "activePreset")).toEqual({
      kind: "INFERENCE",
      // The first admin holds its floor too: fund() bought it on top (the purchase brought the admin up).
      purchased: 2_500_000,
      allocated: 2_000_000,
      used: 0,
      unallocated: 500_000,
      activePreset: "STANDARD",
    });
  });

  it("adds nobody when the pool cannot cover every floor", async () => {
    const seed = await seedOrganization(server);
    await seed.purchase(1_000_000, "INFERENCE");
    await seed.purchase(5_000_000, "TRAINING");
    const error = await seed.admin.errorOf(AddMembersDocument, {
      members: [{ email: `${unique()}@example.com` }, { email: `${unique()}@example.com` }, { email: `${unique()}@example.com` }],
    });
    expect(error.extensions?.code).toBe("INSUFFICIENT_POOL");
    const { organization } = await seed.admin.execute(MembersDocument, {});
    expect(organization.members.totalCount).toBe(1);
    const training = await seed.admin.execute(AllocationStatusDocument, { kind: "TRAINING" });
    // purchase() bought the first admin's 500K floor on top; nobody else was added.
    expect(training.organization.allocationStatus).toMatchObject({ unallocated: 5_000_000, allocated: 500_000 });
  });

  it("refuses duplicate and existing emails naming the entry, and changes nothing", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(10_000_000);
    const email = `${unique()}@example.com`;
    const duplicate = await seed.admin.errorOf(AddMembersDocument, {
      members: [{ email: "a@example.com" }, { email: email }, { email: email.toUpperCase() }],
    });
    expect(duplicate.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "members[2].email" });
    await seed.addMembers([{ email }]);
    const existing = await seed.admin.errorOf(AddMembersDocument, { members: [{ email: "new@example.com" }, { email: ` ${email} ` }] });
    expect(existing.extensions).toMatchObject({ code: "CONFLICT", field: "members[1].email" });
    const invalid = await seed.admin.errorOf(AddMembersDocument, { members: [{ email: "nope" }] });
    expect(invalid.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "members[0].email" });
    const { organization } = await seed.admin.execute(MembersDocument, {});
    expect(organization.members.totalCount).toBe(2);
  });

  it("parallel additions: one email is added once, a new team is created once", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(20_000_000);
    const email = `${unique()}@example.com`;
    const same = await Promise.all(Array.from({ length: 4 }, () => seed.admin.request(AddMembersDocument, { members: [{ email }] })));
    expect(same.filter((result) => !result.errors)).toHaveLength(1);
    for (const result of same.filter((r) => r.errors)) expect(result.errors![0]!.extensions?.code).toBe("CONFLICT");

    const team = unique("team");
    const teams = await Promise.all(
      Array.from({ length: 4 }, () =>
        seed.admin.execute(AddMembersDocument, { members: [{ email: `${unique()}@example.com`, teamName: team }] }),
      ),
    );
    const teamIds = new Set(teams.map((result) => result.addMembers[0]!.team!.id));
    expect(teamIds.size).toBe(1);
    const { organization } = await seed.admin.execute(MembersDocument, {});
    expect(organization.members.totalCount).toBe(6);
    const { allocationStatus } = (await seed.admin.execute(AllocationStatusDocument, { kind: "INFERENCE" })).organization;
    expect(pick(allocationStatus, "allocated", "unallocated")).toEqual({ allocated: 3_000_000, unallocated: 17_500_000 });
  });

  it("lets only admins add members", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(5_000_000);
    const [memberId] = await seed.addMembers([{}]);
    const member = await seed.as(memberId!);
    const forbidden = await member.errorOf(AddMembersDocument, { members: [{ email: "x@example.com" }] });
    expect(forbidden.extensions?.code).toBe("FORBIDDEN");
    const anonymous = await new Api(server.url).errorOf(AddMembersDocument, { members: [{ email: "x@example.com" }] });
    expect(anonymous.extensions?.code).toBe("UNAUTHENTICATED");
    const service = await seed.serviceKey();
    expect((await service.errorOf(AddMembersDocument, { members: [{ email: "x@example.com" }] })).extensions?.code).toBe("FORBIDDEN");
  });
});
