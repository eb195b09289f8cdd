// Every token amount the API takes is checked by one rule (src/ledger/rules.ts): a negative amount is refused the
// same way wherever it is given, naming the field, and changes nothing.
// Operations are written out on purpose: each negative amount where it is given, not the client's documents.
import { describe, expect, it } from "vitest";
import { seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";
import { key } from "../usage/setup.ts";

const server = await startServer();

const STATUS = `{ organization { allocationStatus { purchased allocated used unallocated } } }`;

describe("token amounts", () => {
  it("are refused below their minimum with one message naming the field, by every operation that takes one", async () => {
    const seed = await seedOrganization(server);
    await seed.fund(2_000_000);
    const [memberId] = await seed.addMembers([{ name: "Ada" }]);
    const member = await seed.as(memberId!);
    const service = await seed.serviceKey();
    await seed.admin.execute(`mutation { upsertModel(input: {key: "m", inputPricePerMillion: "1", outputPricePerMillion: "1"}) { id } }`);
    const before = await seed.admin.execute(STATUS);

    const cases: { api: typeof seed.admin; doc: string; variables: Record<string, unknown>; field: RegExp; min: 0 | 1 }[] = [
      {
        api: seed.admin,
        doc: `mutation($m: ID!) { setAllocation(input: {memberId: $m, inference: -1}) { id } }`,
        variables: { m: memberId },
        field: /inference/,
        min: 0,
      },
      {
        api: seed.admin,
        doc: `mutation($m: ID!) { allocateTokens(input: {memberIds: [$m], kind: INFERENCE, amount: -1}) { id } }`,
        variables: { m: memberId },
        field: /amount/,
        min: 0,
      },
      {
        api: seed.admin,
        doc: `mutation($m: ID!) { setMemberLimits(memberId: $m, limits: {daily: -1}) { id } }`,
        variables: { m: memberId },
        field: /daily/,
        min: 0,
      },
      {
        api: seed.admin,
        doc: `mutation($m: ID!) { setOverride(input: {memberId: $m, floor: -1}) { id } }`,
        variables: { m: memberId },
        field: /floor/,
        min: 0,
      },
      {
        api: seed.admin,
        doc: `mutation { updateDistributionPolicy(policy: {inferenceFloor: -1}) { inferenceFloor } }`,
        variables: {},
        field: /inferenceFloor/,
        min: 0,
      },
      {
        api: seed.admin,
        doc: `mutation { setAutoApproval(maxAmount: 10, poolReserve: -1) { id } }`,
        variables: {},
        field: /poolReserve/,
        min: 0,
      },
      {
        api: seed.admin,
        doc: `mutation { setAutoApproval(maxAmount: 0, poolReserve: 0) { id } }`,
        variables: {},
        field: /maxAmount/,
        min: 1,
      },
      { api: member, doc: `mutation { requestTokens(amount: 0) { id } }`, variables: {}, field: /amount/, min: 1 },
      {
        api: service,
        doc: `mutation($m: ID!, $k: String!) { recordUsage(input: {memberId: $m, modelKey: "m", inputTokens: -1, outputTokens: 0, idempotencyKey: $k}) { id } }`,
        variables: { m: memberId, k: key() },
        field: /inputTokens/,
        min: 0,
      },
    ];
    for (const { api, doc, variables, field, min } of cases) {
      const error = await api.errorOf(doc, variables);
      expect(error.extensions, doc).toMatchObject({ code: "BAD_USER_INPUT", field: expect.stringMatching(field) });
      // One message everywhere; a usage call's own bound is MAX_TOKENS_PER_CALL rather than 2^53-1.
      expect(error.message, doc).toMatch(
        new RegExp(`must be a whole number of tokens from ${min} to (2\\^53-1|1000000000 \\(per call\\))`),
      );
    }
    expect(await seed.admin.execute(STATUS)).toEqual(before);
    const { member: after } = await seed.admin.execute(
      `query($m: ID!) { member(id: $m) { inference { limit used } override { floor } } }`,
      {
        m: memberId,
      },
    );
    expect(after).toEqual({ inference: { limit: 500_000, used: 0 }, override: null });
  });
});
