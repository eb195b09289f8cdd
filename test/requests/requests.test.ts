// Token requests over HTTP and WebSocket: asking, cancelling, reviewing, bulk decisions, races, auto-approval, live streams.

import { describe, expect, it } from "vitest";
import {
  AllocationStatusDocument,
  ApproveTokenRequestsDocument,
  BalanceChangedDocument,
  CancelTokenRequestDocument,
  MemberBalancesDocument,
  MemberDocument,
  OrganizationSettingsDocument,
  PendingTokenRequestCountChangedDocument,
  PendingTokenRequestCountDocument,
  RejectTokenRequestsDocument,
  RequestTokensDocument,
  RequestTokensForMemberDocument,
  SetAutoApprovalDocument,
  SetMemberSuspendedDocument,
  type TokenKind,
  TokenRequestDocument,
  TokenRequestsDocument,
  type TokenRequestsQuery,
  TokenRequestUpdatedDocument,
} from "../../src/client/generated/graphql.ts";
import { ManualClock } from "../../src/clock.ts";
import type { Api } from "../support/client.ts";
import { subscribe } from "../support/client.ts";
import { type Seed, seedOrganization } from "../support/factories.ts";
import { startServer } from "../support/server.ts";

const clock = new ManualClock(new Date()); // tokens are checked against the real time, so start there
const server = await startServer({ clock, env: { TOKEN_REQUESTS_PER_HOUR: "3" } });

const FLOOR = 500_000;

interface Team {
  seed: Seed;
  ids: string[];
  members: Api[];
}

/** An organisation with `count` members (floor 500K each) and `spare` unallocated tokens of each kind. */
async function team(count: number, spare: number, members: { name?: string; teamName?: string }[] = []): Promise<Team> {
  const seed = await seedOrganization(server);
  await seed.fund(count * FLOOR + spare);
  const ids = await seed.addMembers(Array.from({ length: count }, (_, i) => members[i] ?? { name: `Member ${i}` }));
  return { seed, ids, members: await Promise.all(ids.map((id) => seed.as(id))) };
}

async function ask(member: Api, amount: number, kind: "INFERENCE" | "TRAINING" = "INFERENCE", reason?: string) {
  clock.advance(1000); // distinct creation times, so "oldest first" is well defined
  return (await member.execute(RequestTokensDocument, { amount, kind, reason })).requestTokens;
}

const poolOf = async (seed: Seed, kind: TokenKind = "INFERENCE") =>
  (await seed.admin.execute(AllocationStatusDocument, { kind })).organization.allocationStatus.unallocated;
const limitOf = async (seed: Seed, id: string) =>
  (await seed.admin.execute(MemberBalancesDocument, { memberId: id })).member!.inference.limit;

/** A token request read by its id (fails when the id names something else). */
async function requestById(api: Api, id: string) {
  const { node } = await api.execute(TokenRequestDocument, { id });
  if (node?.__typename !== "TokenRequest") throw new Error(`${id} is not a token request: ${JSON.stringify(node)}`);
  return node;
}

describe("requestTokens", () => {
  it("files a pending request with the balance at request time and allows one pending per kind", async () => {
    const { seed, ids, members } = await team(1, 0, [{ name: "Ada", teamName: "Research" }]);
    const request = await ask(members[0]!, 20_000, "INFERENCE", "  Quarter-end report  ");
    expect(request).toMatchObject({
      kind: "INFERENCE",
      amount: 20_000,
      reason: "Quarter-end report",
      status: "PENDING",
      balanceAtRequest: FLOOR,
      currentBalance: FLOOR,
      decidedAt: null,
      decidedBy: null,
      autoApproved: false,
      decisions: [],
      member: { id: ids[0], name: "Ada", team: { name: "Research" } },
    });
    const again = await members[0]!.errorOf(RequestTokensDocument, { amount: 5 });
    expect(again.extensions?.code).toBe("REQUEST_ALREADY_PENDING");
    const training = await ask(members[0]!, 7, "TRAINING");
    expect(training.status).toBe("PENDING");
    expect((await seed.admin.execute(PendingTokenRequestCountDocument)).pendingTokenRequestCount).toBe(2);
    expect((await members[0]!.execute(PendingTokenRequestCountDocument)).pendingTokenRequestCount).toBe(2);
  });

  it("refuses bad amounts and over-long reasons naming the field, and files nothing", async () => {
    const { seed, members } = await team(1, 0);
    for (const amount of [0, -5]) {
      expect((await members[0]!.errorOf(RequestTokensDocument, { amount })).extensions).toMatchObject({
        code: "BAD_USER_INPUT",
        field: "amount",
      });
    }
    expect((await members[0]!.errorOf(RequestTokensDocument, { amount: 1.5 })).extensions?.code).toBe("BAD_USER_INPUT");
    expect((await members[0]!.errorOf(RequestTokensDocument, { amount: 10, reason: "x".repeat(1001) })).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "reason",
    });
    expect((await seed.admin.execute(PendingTokenRequestCountDocument)).pendingTokenRequestCount).toBe(0);
  });

  it("rate-limits a member flooding requests, with a clear error and when to retry", async () => {
    const { members } = await team(2, 0);
    const [flooder, other] = members as [Api, Api];
    for (let i = 0; i < 3; i++) {
      const request = await ask(flooder, 100 + i);
      await flooder.execute(CancelTokenRequestDocument, { id: request.id });
    }
    const error = await flooder.errorOf(RequestTokensDocument, { amount: 50 });
    expect(error.extensions?.code).toBe("RATE_LIMITED");
    expect(error.message).toMatch(/at most 3 times an hour/);
    const retryAfter = error.extensions?.retryAfterSeconds as number;
    expect(retryAfter).toBeGreaterThan(3000);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    // Others are not affected.
    expect((await ask(other, 10)).status).toBe("PENDING");
    clock.advance(retryAfter * 1000);
    expect((await ask(flooder, 50)).status).toBe("PENDING");
  });
});

describe("who may ask", () => {
  it("two requests of one member at once: the database lets exactly one be pending", async () => {
    const { seed, members } = await team(1, 0);
    const results = await Promise.all([
      members[0]!.request(RequestTokensDocument, { amount: 10 }),
      members[0]!.request(RequestTokensDocument, { amount: 20 }),
    ]);
    expect(results.filter((result) => result.data?.requestTokens).length).toBe(1);
    expect(results.flatMap((result) => result.errors ?? []).map((error) => error.extensions?.code)).toEqual(["REQUEST_ALREADY_PENDING"]);
    expect((await seed.admin.execute(PendingTokenRequestCountDocument)).pendingTokenRequestCount).toBe(1);
  });

  it("admins may ask for themselves; suspended members and anonymous callers may not; services only for a member", async () => {
    const { seed, ids, members } = await team(1, 0);
    expect((await ask(seed.admin, 100)).member.id).toBe(seed.adminId);
    await seed.admin.execute(SetMemberSuspendedDocument, { memberId: ids[0]!, suspended: true });
    // Suspension revoked the member's token; with a new one it may read its own member, but not ask.
    expect((await members[0]!.errorOf(RequestTokensDocument, { amount: 100 })).extensions?.code).toBe("UNAUTHENTICATED");
    expect((await (await seed.as(ids[0]!)).errorOf(RequestTokensDocument, { amount: 100 })).extensions?.code).toBe("FORBIDDEN");
    const service = await seed.serviceKey();
    expect((await service.errorOf(RequestTokensDocument, { amount: 100 })).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "memberId",
    });
    expect((await service.errorOf(PendingTokenRequestCountDocument)).extensions?.code).toBe("FORBIDDEN");
    expect((await seed.admin.as(null).errorOf(RequestTokensDocument, { amount: 100 })).extensions?.code).toBe("UNAUTHENTICATED");
  });
});

describe("requests from the chat app (a service key)", () => {
  it("files for a member of its organisation, with the same one-pending and rate rules; the admin sees it", async () => {
    const { seed, ids, members } = await team(2, 0);
    const service = await seed.serviceKey();
    clock.advance(1000);
    const { requestTokens: filed } = await service.execute(RequestTokensForMemberDocument, {
      amount: 50_000,
      memberId: ids[0]!,
      reason: "From the chat",
    });
    expect(filed).toMatchObject({ status: "PENDING", amount: 50_000, member: { id: ids[0] } });
    expect((await seed.admin.execute(PendingTokenRequestCountDocument)).pendingTokenRequestCount).toBe(1);
    // one pending per member and kind, whoever files it
    expect((await service.errorOf(RequestTokensForMemberDocument, { amount: 10, memberId: ids[0]! })).extensions?.code).toBe(
      "REQUEST_ALREADY_PENDING",
    );
    expect((await members[0]!.errorOf(RequestTokensDocument, { amount: 10 })).extensions?.code).toBe("REQUEST_ALREADY_PENDING");
    // the member cancels what the chat app filed for it, then the rate limit counts every request of the member
    await members[0]!.execute(CancelTokenRequestDocument, { id: filed.id });
    let code: string | undefined;
    for (let attempt = 0; attempt < 20 && !code; attempt++) {
      clock.advance(1000);
      const response = await service.request(RequestTokensForMemberDocument, { amount: 10, memberId: ids[0]! });
      code = response.errors?.[0]?.extensions?.code;
      if (!code) await members[0]!.execute(CancelTokenRequestDocument, { id: response.data!.requestTokens.id });
    }
    expect(code).toBe("RATE_LIMITED");
    // another member of the organisation is not affected
    expect((await service.execute(RequestTokensForMemberDocument, { amount: 10, memberId: ids[1]! })).requestTokens.status).toBe("PENDING");
  });

  it("answers NOT_FOUND for a member of another organisation, and a member cannot file for someone else", async () => {
    const { seed, ids, members } = await team(2, 0);
    const other = await team(1, 0);
    const service = await seed.serviceKey();
    expect((await service.errorOf(RequestTokensForMemberDocument, { amount: 10, memberId: other.ids[0]! })).extensions?.code).toBe(
      "NOT_FOUND",
    );
    expect((await members[0]!.errorOf(RequestTokensForMemberDocument, { amount: 10, memberId: ids[1]! })).extensions?.code).toBe(
      "NOT_FOUND",
    );
    expect((await other.seed.admin.execute(PendingTokenRequestCountDocument)).pendingTokenRequestCount).toBe(0);
    expect((await seed.admin.execute(PendingTokenRequestCountDocument)).pendingTokenRequestCount).toBe(0);
  });
});

describe("cancelTokenRequest", () => {
  it("a cancel racing an approval: one of them wins and the limit matches", async () => {
    const { seed, ids, members } = await team(1, 1_000_000);
    const request = await ask(members[0]!, 100_000);
    const [cancel, approve] = await Promise.all([
      members[0]!.request(CancelTokenRequestDocument, { id: request.id }),
      seed.admin.execute(ApproveTokenRequestsDocument, { ids: [request.id] }),
    ]);
    const approved = approve.approveTokenRequests.succeeded === 1;
    if (approved) expect(cancel.errors?.[0]?.extensions?.code).toBe("CONFLICT");
    else {
      expect(cancel.data?.cancelTokenRequest.status).toBe("CANCELLED");
      expect(approve.approveTokenRequests.outcomes[0]!.errorCode).toBe("ALREADY_DECIDED");
    }
    expect(await limitOf(seed, ids[0]!)).toBe(approved ? FLOOR + 100_000 : FLOOR);
  });

  it("lets the requester withdraw a pending request, recorded in the audit trail, and ask again", async () => {
    const { seed, members } = await team(2, 0);
    const request = await ask(members[0]!, 1000);
    expect((await members[1]!.errorOf(CancelTokenRequestDocument, { id: request.id })).extensions?.code).toBe("NOT_FOUND");
    expect((await seed.admin.errorOf(CancelTokenRequestDocument, { id: request.id })).extensions?.code).toBe("FORBIDDEN");
    const { cancelTokenRequest } = await members[0]!.execute(CancelTokenRequestDocument, { id: request.id });
    expect(cancelTokenRequest).toMatchObject({ status: "CANCELLED", decidedBy: { name: "Member 0" } });
    expect(cancelTokenRequest.decisions).toEqual([
      expect.objectContaining({ status: "CANCELLED", automatic: false, actor: { name: "Member 0" }, actorPrincipal: "MEMBER" }),
    ]);
    expect((await members[0]!.errorOf(CancelTokenRequestDocument, { id: request.id })).extensions?.code).toBe("CONFLICT");
    expect((await ask(members[0]!, 2000)).status).toBe("PENDING");
  });
});

describe("approveTokenRequests / rejectTokenRequests", () => {
  it("approves by id: the limit rises from the pool (past the ceiling), the member sees it live, the trail records it", async () => {
    const { seed, ids, members } = await team(1, 6_000_000);
    const member = members[0]!;
    const balances = subscribe(member, BalanceChangedDocument, { kind: "INFERENCE" });
    const updates = subscribe(member, TokenRequestUpdatedDocument);
    const badge = subscribe(member, PendingTokenRequestCountChangedDocument);
    try {
      await badge.subscription.next();
      await new Promise((resolve) => setTimeout(resolve, 100));
      // 5.5M on a 5M ceiling: an admin's approval may pass it.
      const request = await ask(member, 5_000_000, "INFERENCE", "Training run");
      const { approveTokenRequests } = await seed.admin.execute(ApproveTokenRequestsDocument, { ids: [request.id], note: "Go ahead" });
      expect(approveTokenRequests).toMatchObject({ succeeded: 1, failed: 0, notFound: [] });
      expect(approveTokenRequests.outcomes).toHaveLength(1);
      expect(approveTokenRequests.outcomes).toMatchObject([
        {
          ok: true,
          errorCode: null,
          request: {
            id: request.id,
            status: "APPROVED",
            amount: 5_000_000,
            member: { id: ids[0] },
            decidedBy: { id: seed.adminId },
            decisionNote: "Go ahead",
          },
        },
      ]);
      const live = await balances.subscription.next((event) => event.balanceChanged.limit === FLOOR + 5_000_000);
      expect(live.balanceChanged.remaining).toBe(FLOOR + 5_000_000);
      await updates.subscription.next(
        (event) => event.tokenRequestUpdated.id === request.id && event.tokenRequestUpdated.status === "APPROVED",
      );
      expect(await poolOf(seed)).toBe(1_000_000);

      const node = await requestById(member, request.id);
      expect(node).toMatchObject({
        status: "APPROVED",
        currentBalance: FLOOR + 5_000_000,
        balanceAtRequest: FLOOR,
        decisionNote: "Go ahead",
      });
      expect(node.decisions).toEqual([
        expect.objectContaining({
          status: "APPROVED",
          automatic: false,
          // Of the deciding admin, the member reads only the name.
          actor: { name: null },
          actorPrincipal: "ADMIN",
          note: "Go ahead",
        }),
      ]);
      // The clock is shared with concurrent tests that move it forward.
      expect(new Date(node.decidedAt!).getTime()).toBeGreaterThanOrEqual(new Date(node.createdAt).getTime());
      expect(new Date(node.decidedAt!).getTime()).toBeLessThanOrEqual(clock.now().getTime());
    } finally {
      for (const { subscription, client } of [balances, updates, badge]) {
        subscription.close();
        await client.dispose();
      }
    }
  });

  it("two admins approving the same request at once: exactly one wins, the limit rises once", async () => {
    const { seed, ids, members } = await team(1, 1_000_000);
    const [secondAdminId] = await seed.addMembers([{ role: "ADMIN" }]);
    const secondAdmin = await seed.as(secondAdminId!);
    const request = await ask(members[0]!, 300_000);
    const results = await Promise.all([
      seed.admin.execute(ApproveTokenRequestsDocument, { ids: [request.id] }),
      secondAdmin.execute(ApproveTokenRequestsDocument, { ids: [request.id] }),
    ]);
    const outcomes = results.map((result) => result.approveTokenRequests.outcomes[0]!);
    expect(outcomes.filter((outcome) => outcome.ok)).toHaveLength(1);
    expect(outcomes.filter((outcome) => !outcome.ok).map((outcome) => outcome.errorCode)).toEqual(["ALREADY_DECIDED"]);
    expect(await limitOf(seed, ids[0]!)).toBe(FLOOR + 300_000);
    expect(await poolOf(seed)).toBe(1_000_000 - FLOOR - 300_000); // second admin's floor came from the pool too
  });

  it("an approval racing a rejection: one decision stands, with its effect applied once", async () => {
    const { seed, ids, members } = await team(1, 1_000_000);
    const request = await ask(members[0]!, 200_000);
    const [approved, rejected] = await Promise.all([
      seed.admin.execute(ApproveTokenRequestsDocument, { ids: [request.id] }),
      seed.admin.execute(RejectTokenRequestsDocument, { ids: [request.id] }),
    ]);
    const wins = [approved.approveTokenRequests.succeeded, rejected.rejectTokenRequests.succeeded];
    expect(wins.sort()).toEqual([0, 1]);
    expect(await limitOf(seed, ids[0]!)).toBe(approved.approveTokenRequests.succeeded ? FLOOR + 200_000 : FLOOR);
  });

  it("approves allPending oldest first while the pool lasts; INSUFFICIENT_POOL leaves that request pending", async () => {
    const { seed, ids, members } = await team(3, 1_500_000);
    const first = await ask(members[0]!, 1_000_000);
    const second = await ask(members[1]!, 1_000_000);
    const third = await ask(members[2]!, 400_000);
    const { approveTokenRequests: result } = await seed.admin.execute(ApproveTokenRequestsDocument, { allPending: true });
    expect(result.outcomes.map((o) => [o.request.id, o.ok, o.errorCode, o.request.status])).toEqual([
      [first.id, true, null, "APPROVED"],
      [second.id, false, "INSUFFICIENT_POOL", "PENDING"],
      [third.id, true, null, "APPROVED"],
    ]);
    expect(result).toMatchObject({ succeeded: 2, failed: 1 });
    expect(await poolOf(seed)).toBe(100_000);
    expect(await Promise.all(ids.map((id) => limitOf(seed, id)))).toEqual([FLOOR + 1_000_000, FLOOR, FLOOR + 400_000]);
    expect((await seed.admin.execute(PendingTokenRequestCountDocument)).pendingTokenRequestCount).toBe(1);
    // After a purchase the leftover can be approved.
    await seed.purchase(900_000);
    const retry = await seed.admin.execute(ApproveTokenRequestsDocument, { ids: [second.id] });
    expect(retry.approveTokenRequests.succeeded).toBe(1);
  });

  it("rejects allPending with a note; limits and pool stay; decided ones answer ALREADY_DECIDED", async () => {
    const { seed, ids, members } = await team(2, 100_000);
    const a = await ask(members[0]!, 10_000);
    const b = await ask(members[1]!, 20_000);
    const { rejectTokenRequests } = await seed.admin.execute(RejectTokenRequestsDocument, {
      allPending: true,
      note: "Budget freeze until April",
    });
    expect(rejectTokenRequests.succeeded).toBe(2);
    expect(rejectTokenRequests.outcomes.map((o) => o.request.status)).toEqual(["REJECTED", "REJECTED"]);
    expect(rejectTokenRequests.outcomes.every((o) => o.request.decisionNote === "Budget freeze until April")).toBe(true);
    expect(await Promise.all(ids.map((id) => limitOf(seed, id)))).toEqual([FLOOR, FLOOR]);
    expect(await poolOf(seed)).toBe(100_000);
    const again = await seed.admin.execute(ApproveTokenRequestsDocument, { ids: [a.id, b.id] });
    expect(again.approveTokenRequests.outcomes.map((o) => o.errorCode)).toEqual(["ALREADY_DECIDED", "ALREADY_DECIDED"]);
    expect(again.approveTokenRequests).toMatchObject({ succeeded: 0, failed: 2 });
    const { rejectTokenRequests: none } = await seed.admin.execute(RejectTokenRequestsDocument, { allPending: true });
    expect(none).toMatchObject({ outcomes: [], succeeded: 0, failed: 0 });
  });

  it("answers NOT_FOUND per id for another organisation's requests and leaves them alone", async () => {
    const [ours, theirs] = await Promise.all([team(1, 1_000_000), team(1, 1_000_000)]);
    const mine = await ask(ours.members[0]!, 1000);
    const foreign = await ask(theirs.members[0]!, 1000);
    const { approveTokenRequests } = await ours.seed.admin.execute(ApproveTokenRequestsDocument, { ids: [mine.id, foreign.id] });
    expect(approveTokenRequests).toMatchObject({ succeeded: 1, failed: 1, notFound: [foreign.id] });
    expect(approveTokenRequests.outcomes.map((o) => o.request.id)).toEqual([mine.id]);
    expect((await theirs.seed.admin.execute(PendingTokenRequestCountDocument)).pendingTokenRequestCount).toBe(1);
    expect(await limitOf(theirs.seed, theirs.ids[0]!)).toBe(FLOOR);
    const { node } = await ours.seed.admin.execute(TokenRequestDocument, { id: foreign.id });
    expect(node).toBeNull();
  });

  it("refuses plain members (FORBIDDEN) and bad selections (BAD_USER_INPUT), changing nothing", async () => {
    const { seed, members } = await team(1, 1_000_000);
    const request = await ask(members[0]!, 1000);
    expect((await members[0]!.errorOf(ApproveTokenRequestsDocument, { ids: [request.id] })).extensions?.code).toBe("FORBIDDEN");
    expect((await members[0]!.errorOf(RejectTokenRequestsDocument, { allPending: true })).extensions?.code).toBe("FORBIDDEN");
    for (const variables of [{}, { allPending: false }, { ids: [request.id], allPending: true }, { ids: [] }, { ids: ["nonsense"] }]) {
      expect((await seed.admin.errorOf(ApproveTokenRequestsDocument, variables)).extensions?.code).toBe("BAD_USER_INPUT");
    }
    expect((await seed.admin.errorOf(RejectTokenRequestsDocument, { ids: [request.id], note: "n".repeat(1001) })).extensions).toMatchObject(
      {
        code: "BAD_USER_INPUT",
        field: "note",
      },
    );
    expect((await seed.admin.execute(PendingTokenRequestCountDocument)).pendingTokenRequestCount).toBe(1);
  });
});

describe("auto-approval", () => {
  it("approves small requests at once while the pool keeps the reserve; the rest wait for an admin", async () => {
    const { seed, ids, members } = await team(3, 100_000);
    expect((await members[0]!.errorOf(SetAutoApprovalDocument, { maxAmount: 1, poolReserve: 0 })).extensions?.code).toBe("FORBIDDEN");
    expect((await seed.admin.errorOf(SetAutoApprovalDocument, { maxAmount: 0, poolReserve: 0 })).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "maxAmount",
    });
    expect((await seed.admin.errorOf(SetAutoApprovalDocument, { maxAmount: 10, poolReserve: -1 })).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "poolReserve",
    });
    const { setAutoApproval } = await seed.admin.execute(SetAutoApprovalDocument, { maxAmount: 50_000, poolReserve: 40_000 });
    expect({
      autoApproveMaxAmount: setAutoApproval.autoApproveMaxAmount,
      autoApprovePoolReserve: setAutoApproval.autoApprovePoolReserve,
    }).toEqual({
      autoApproveMaxAmount: 50_000,
      autoApprovePoolReserve: 40_000,
    });

    const small = await ask(members[0]!, 50_000);
    expect(small).toMatchObject({ status: "APPROVED", autoApproved: true, decidedBy: null, currentBalance: FLOOR + 50_000 });
    expect(small.decisions).toEqual([
      expect.objectContaining({ status: "APPROVED", automatic: true, actor: null, actorPrincipal: "SYSTEM" }),
    ]);
    expect(await poolOf(seed)).toBe(50_000);
    // Would leave 30K < 40K reserve: waits.
    expect((await ask(members[1]!, 20_000)).status).toBe("PENDING");
    // Above the maximum: waits.
    expect((await ask(members[2]!, 50_001, "TRAINING")).status).toBe("PENDING");
    expect(await limitOf(seed, ids[1]!)).toBe(FLOOR);

    await seed.admin.execute(SetAutoApprovalDocument, { maxAmount: null, poolReserve: 0 });
    const { organization } = await seed.admin.execute(OrganizationSettingsDocument);
    expect({
      autoApproveMaxAmount: organization.autoApproveMaxAmount,
      autoApprovePoolReserve: organization.autoApprovePoolReserve,
    }).toEqual({
      autoApproveMaxAmount: null,
      autoApprovePoolReserve: 0,
    });
    const { cancelTokenRequest } = await members[1]!.execute(CancelTokenRequestDocument, {
      id: (await members[1]!.execute(TokenRequestsDocument, { status: "PENDING" })).tokenRequests.edges[0]!.node.id,
    });
    expect(cancelTokenRequest.status).toBe("CANCELLED");
    expect((await ask(members[1]!, 1)).status).toBe("PENDING");
  });
});

describe("tokenRequests", () => {
  it("lists for admins with filters, search, sort and pages; members see only their own", async () => {
    const { seed, ids, members } = await team(3, 0, [
      { name: "Ada Lovelace", teamName: "Research" },
      { name: "Brian Kernighan", teamName: "Ops" },
      { name: "Cy Young", teamName: "Research" },
    ]);
    const a = await ask(members[0]!, 300);
    const b = await ask(members[1]!, 900);
    const c = await ask(members[2]!, 100);
    await members[2]!.execute(CancelTokenRequestDocument, { id: c.id });
    const d = await ask(members[2]!, 500, "TRAINING");
    const idsOf = (result: TokenRequestsQuery) => result.tokenRequests.edges.map((edge) => edge.node.id);

    const all = await seed.admin.execute(TokenRequestsDocument, {});
    expect(idsOf(all)).toEqual([d.id, c.id, b.id, a.id]);
    expect(all.tokenRequests.totalCount).toBe(4);
    expect(idsOf(await seed.admin.execute(TokenRequestsDocument, { orderBy: "OLDEST" }))).toEqual([a.id, b.id, c.id, d.id]);
    expect(idsOf(await seed.admin.execute(TokenRequestsDocument, { orderBy: "LARGEST" }))).toEqual([b.id, d.id, a.id, c.id]);
    expect(idsOf(await seed.admin.execute(TokenRequestsDocument, { status: "PENDING", orderBy: "OLDEST" }))).toEqual([a.id, b.id, d.id]);
    expect(idsOf(await seed.admin.execute(TokenRequestsDocument, { search: "KERNIGHAN" }))).toEqual([b.id]);
    expect(idsOf(await seed.admin.execute(TokenRequestsDocument, { memberId: ids[0] }))).toEqual([a.id]);

    const { member } = await seed.admin.execute(MemberDocument, { memberId: ids[0]! });
    const research = await seed.admin.execute(TokenRequestsDocument, { teamId: member!.team!.id, orderBy: "OLDEST" });
    expect(idsOf(research)).toEqual([a.id, c.id, d.id]);
    expect(research.tokenRequests.totalCount).toBe(3);

    const page1 = await seed.admin.execute(TokenRequestsDocument, { first: 2, orderBy: "LARGEST" });
    expect(page1.tokenRequests.pageInfo.hasNextPage).toBe(true);
    const page2 = await seed.admin.execute(TokenRequestsDocument, {
      first: 2,
      orderBy: "LARGEST",
      after: page1.tokenRequests.pageInfo.endCursor,
    });
    expect([...idsOf(page1), ...idsOf(page2)]).toEqual([b.id, d.id, a.id, c.id]);
    expect(page2.tokenRequests.pageInfo.hasNextPage).toBe(false);

    const own = await members[2]!.execute(TokenRequestsDocument, {});
    expect(idsOf(own)).toEqual([d.id, c.id]);
    expect(own.tokenRequests.totalCount).toBe(2);
    expect(idsOf(await members[2]!.execute(TokenRequestsDocument, { memberId: ids[0] }))).toEqual([]);
    expect((await members[0]!.execute(TokenRequestDocument, { id: b.id })).node).toBeNull();
  });

  it("shows a reviewer the age of a request and the member's balance now", async () => {
    const { seed, members } = await team(1, 0);
    const request = await ask(members[0]!, 1234);
    clock.advance(90_000);
    const node = await requestById(seed.admin, request.id);
    expect(node.ageSeconds).toBeGreaterThanOrEqual(90);
    expect(node).toMatchObject({ currentBalance: FLOOR, balanceAtRequest: FLOOR });
  });
});

describe("live streams", () => {
  it("pendingTokenRequestCount sends the count on subscribe, +1 per request, then the drop after a bulk approval", async () => {
    const { seed, members } = await team(3, 1_000_000);
    await ask(members[0]!, 100);
    const badge = subscribe(seed.admin, PendingTokenRequestCountChangedDocument);
    try {
      expect(await badge.subscription.next()).toEqual({ pendingTokenRequestCount: 1 });
      await ask(members[1]!, 100);
      await badge.subscription.next((event) => event.pendingTokenRequestCount === 2);
      await ask(members[2]!, 100);
      await badge.subscription.next((event) => event.pendingTokenRequestCount === 3);
      await seed.admin.execute(ApproveTokenRequestsDocument, { allPending: true });
      await badge.subscription.next((event) => event.pendingTokenRequestCount === 0);
      expect(badge.subscription.events.map((event) => event.pendingTokenRequestCount)).toEqual([1, 2, 3, 0]);
    } finally {
      badge.subscription.close();
      await badge.client.dispose();
    }
  });

  it("tokenRequestUpdated: admins get the organisation's changes, members only their own, other organisations nothing", async () => {
    const [{ seed, ids, members }, other] = await Promise.all([team(2, 1_000_000), team(1, 0)]);
    const adminFeed = subscribe(seed.admin, TokenRequestUpdatedDocument);
    const aliceFeed = subscribe(members[0]!, TokenRequestUpdatedDocument);
    const foreignFeed = subscribe(other.seed.admin, TokenRequestUpdatedDocument);
    const ready = subscribe(members[0]!, PendingTokenRequestCountChangedDocument);
    try {
      await ready.subscription.next();
      await new Promise((resolve) => setTimeout(resolve, 150));
      const fromBob = await ask(members[1]!, 100);
      const fromAlice = await ask(members[0]!, 200);
      await seed.admin.execute(RejectTokenRequestsDocument, { ids: [fromAlice.id], note: "No" });
      await adminFeed.subscription.next((e) => e.tokenRequestUpdated.id === fromBob.id);
      await adminFeed.subscription.next((e) => e.tokenRequestUpdated.id === fromAlice.id && e.tokenRequestUpdated.status === "REJECTED");
      await aliceFeed.subscription.next((e) => e.tokenRequestUpdated.status === "REJECTED");
      expect(aliceFeed.subscription.events.every((e) => e.tokenRequestUpdated.member.id === ids[0])).toBe(true);
      expect(aliceFeed.subscription.events.map((e) => e.tokenRequestUpdated.status)).toEqual(["PENDING", "REJECTED"]);
      expect(foreignFeed.subscription.events).toEqual([]);
    } finally {
      for (const { subscription, client } of [adminFeed, aliceFeed, foreignFeed, ready]) {
        subscription.close();
        await client.dispose();
      }
    }
  });
});
