// Bad input of any shape is BAD_USER_INPUT naming the field (never INTERNAL_SERVER_ERROR), and the texts people read
// hold no control, bidirectional or invisible characters. The checks live in one place (src/schema/input-guard.ts).
// Operations are written out on purpose: malformed input of every shape, not the client's documents.
import { encodeGlobalID } from "@pothos/plugin-relay";
import { describe, expect, it } from "vitest";
import { uuidV7 } from "../../src/db/ids.ts";
import type { GraphQLErrorShape } from "../support/client.ts";
import { seedOrganization, unique } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const server = await startServer();

describe("malformed input", () => {
  it("answers BAD_USER_INPUT naming the field for NUL bytes, over-long money, negative page sizes, bad cursors and ids", async () => {
    const seed = await seedOrganization(server);
    const cases: [string, Record<string, unknown>, string][] = [
      [`mutation($name: String!) { createApiKey(name: $name) { secret } }`, { name: "a\u0000b" }, "name"],
      [
        `mutation($input: ModelInput!) { upsertModel(input: $input) { id } }`,
        { input: { key: unique("m"), inputPricePerMillion: "1234567890123.00", outputPricePerMillion: "1" } },
        "input.inputPricePerMillion",
      ],
      [
        `mutation($input: ModelInput!) { upsertModel(input: $input) { id } }`,
        { input: { key: unique("m"), inputPricePerMillion: "1", outputPricePerMillion: "1", cap: "123456789012345678901234.00" } },
        "input.cap",
      ],
      [`query($first: Int) { organization { members(first: $first) { totalCount } } }`, { first: -1 }, "first"],
      [`query($first: Int) { tokenRequests(first: $first) { totalCount } }`, { first: -5 }, "first"],
      [`query($after: String) { organization { members(after: $after) { totalCount } } }`, { after: "abc" }, "after"],
      [`query($after: String) { tokenRequests(after: $after) { totalCount } }`, { after: btoa("GPC:S:not-a-uuid") }, "after"],
      [`query($id: ID!) { member(id: $id) { id } }`, { id: "abc" }, "id"],
      [`query($id: ID!) { member(id: $id) { id } }`, { id: encodeGlobalID("Member", "not-a-uuid") }, "id"],
      [`query($id: ID!) { node(id: $id) { id } }`, { id: "abc" }, "id"],
      [`query($id: ID!) { node(id: $id) { id } }`, { id: encodeGlobalID("Nothing", uuidV7(new Date())) }, "id"],
      [`query($id: ID) { tokenRequests(teamId: $id) { totalCount } }`, { id: "%%%" }, "teamId"],
      [`mutation($ids: [ID!]) { approveTokenRequests(ids: $ids) { succeeded } }`, { ids: ["abc"] }, "ids[0]"],
      [`mutation($enabled: Boolean!) { setAutomaticFallback(enabled: $enabled) { id } }`, { enabled: "yes" }, "enabled"],
      [`mutation($enabled: Boolean!) { setAutomaticFallback(enabled: $enabled) { id } }`, { enabled: null }, "enabled"],
    ];
    for (const [query, variables, field] of cases) {
      const error = await seed.admin.errorOf(query, variables);
      expect({ query, code: error.extensions?.code, field: error.extensions?.field }).toEqual({ query, code: "BAD_USER_INPUT", field });
    }
  });

  it("answers a well-formed id that exists nowhere exactly as another organisation's id", async () => {
    const seed = await seedOrganization(server);
    const other = await seedOrganization(server);
    const { createApiKey } = await other.admin.execute(`mutation { createApiKey(name: "k") { id } }`);
    const foreign: Record<string, string> = { Member: other.adminId, Organization: other.organizationId, ApiKey: createApiKey.id };
    for (const [typename, foreignId] of Object.entries(foreign)) {
      const nowhere = encodeGlobalID(typename, uuidV7(new Date()));
      const answers = await Promise.all(
        [foreignId, nowhere].map(async (id) => {
          const { data, errors } = await seed.admin.request(`query($id: ID!) { node(id: $id) { id } }`, { id });
          return { data, codes: errors?.map((error) => error.extensions?.code) };
        }),
      );
      expect({ typename, answer: answers[0] }).toEqual({ typename, answer: { data: { node: null }, codes: undefined } });
      expect(answers[1]).toEqual(answers[0]);
    }
    const member = async (id: string) => {
      const { data, errors } = await seed.admin.request(`query($id: ID!) { member(id: $id) { id } }`, { id });
      return { data, errors: errors?.map((error) => ({ message: error.message, code: error.extensions?.code })) };
    };
    const [foreignAnswer, nowhereAnswer] = await Promise.all([member(other.adminId), member(encodeGlobalID("Member", uuidV7(new Date())))]);
    expect(nowhereAnswer).toEqual(foreignAnswer);
  });
});

describe("texts people read", () => {
  const BAD = {
    control: "Ad\u0007a",
    newline: "Ada\nLovelace",
    bidi: "Ada \u202Egnp.exe",
    isolate: "Ada\u2066x\u2069",
    zeroWidth: "Ad\u200Ba",
    bom: "\uFEFFAda",
    loneSurrogate: "Ada \uD800",
    nul: "Ada\u0000",
  };

  it("refuses control, bidirectional and invisible characters and lone surrogates in every name, reason and note", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(2_000_000);
    const [memberId] = await seed.addMembers([{ name: "Plain" }]);
    const member = await seed.as(memberId!);
    for (const [kind, text] of Object.entries(BAD)) {
      const named = (error: Promise<GraphQLErrorShape>, field: string) => error.then((shape) => [shape, field] as const);
      const attempts = await Promise.all([
        named(
          seed.admin.errorOf(`mutation($m: [MemberInput!]!) { addMembers(members: $m) { id } }`, {
            m: [{ email: `${unique("m")}@example.com`, name: text }],
          }),
          "members[0].name",
        ),
        named(
          seed.admin.errorOf(`mutation($m: [MemberInput!]!) { addMembers(members: $m) { id } }`, {
            m: [{ email: `${unique("m")}@example.com`, teamName: text }],
          }),
          "members[0].teamName",
        ),
        named(seed.admin.errorOf(`mutation($name: String!) { createApiKey(name: $name) { secret } }`, { name: text }), "name"),
        named(
          seed.admin.errorOf(`mutation($input: ModelInput!) { upsertModel(input: $input) { id } }`, {
            input: { key: unique("m"), displayName: text, inputPricePerMillion: "1", outputPricePerMillion: "1" },
          }),
          "input.displayName",
        ),
        named(
          seed.operator.errorOf(`mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { id } }`, {
            input: { name: text, adminEmail: `${unique("a")}@example.com` },
          }),
          "input.name",
        ),
        kind === "newline"
          ? null
          : named(
              member.errorOf(`mutation($reason: String) { requestTokens(amount: 10, reason: $reason) { id } }`, { reason: text }),
              "reason",
            ),
      ]);
      for (const attempt of attempts) {
        if (!attempt) continue;
        const [error, field] = attempt;
        expect({ kind, field, code: error.extensions?.code, named: error.extensions?.field }).toEqual({
          kind,
          field,
          code: "BAD_USER_INPUT",
          named: field,
        });
      }
    }
    const { organization } = await seed.admin.execute(`{ organization { members { totalCount } } }`);
    expect(organization.members.totalCount).toBe(2);
  });

  it("keeps what real names need: other scripts, emoji, the zero-width joiner and non-joiner; line breaks in reasons", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(5_000_000);
    const names = ["Zoë Ångström", "محمد‌رضا", "José 👩‍💻", "李小龍", "O'Brien-Smith"];
    const added = await seed.addMembers(names.map((name) => ({ name })));
    expect(added).toHaveLength(names.length);
    const member = await seed.as(added[0]!);
    await member.execute(`mutation($reason: String) { requestTokens(amount: 10, reason: $reason) { id } }`, {
      reason: "Quarter-end reports.\nTwo more weeks.",
    });
  });

  it("validates email addresses properly", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(2_000_000);
    for (const email of [
      "<script>@x.yz",
      "a@b",
      "a b@c.de",
      "a@-b.de",
      "a@b..de",
      "@b.de",
      "a@b.de>",
      `${"a".repeat(65)}@b.de`,
      "a\u202E@b.de",
    ]) {
      const error = await seed.admin.errorOf(`mutation($m: [MemberInput!]!) { addMembers(members: $m) { id } }`, { m: [{ email }] });
      expect({ email, code: error.extensions?.code, field: error.extensions?.field }).toEqual({
        email,
        code: "BAD_USER_INPUT",
        field: "members[0].email",
      });
    }
    const added = await seed.addMembers([{ email: `o'brien+tag.${unique("x")}@mail.example.co.uk` }]);
    expect(added).toHaveLength(1);
  });
});
