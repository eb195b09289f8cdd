// The watch on a credential: a token that has expired already ends what it holds at once, and only once (it is not
// kept with the live watchers, where a later revocation or re-check would end it again and keep it forever).
import { describe, expect, it } from "vitest";
import type { Authenticator } from "../../src/auth/authenticate.ts";
import { CredentialWatch } from "../../src/auth/credential-watch.ts";
import type { MemberPrincipal } from "../../src/auth/principal.ts";
import { type AppError, unauthenticated } from "../../src/errors.ts";

const suspended = unauthenticated("The member is suspended.");
/** Every re-check finds the member suspended. */
const authenticator = { forgetMember: () => {}, revocationOf: async () => suspended } as unknown as Authenticator;

function member(tokenExpiresAt: number): MemberPrincipal {
  return {
    kind: "MEMBER",
    memberId: "0190e2a4-0000-7000-8000-000000000001",
    organizationId: "0190e2a4-0000-7000-8000-000000000002",
    role: "MEMBER",
    suspended: false,
    tokenIssuedAt: tokenExpiresAt - 60_000,
    tokenExpiresAt,
  };
}

describe("credential watch", () => {
  it("ends an expired token's watch at once and keeps nothing of it", async () => {
    const watch = new CredentialWatch(authenticator);
    const reasons: AppError[] = [];
    const dispose = watch.watch(member(Date.now() - 1), (reason) => reasons.push(reason));
    expect(reasons.map((reason) => reason.message)).toEqual(["The access token expired."]);
    await watch.memberAccessChanged({ memberId: member(0).memberId });
    expect(reasons).toHaveLength(1);
    dispose();
  });

  it("ends a live token's watch when a re-check finds its right gone, once", async () => {
    const watch = new CredentialWatch(authenticator);
    const reasons: AppError[] = [];
    const dispose = watch.watch(member(Date.now() + 3_600_000), (reason) => reasons.push(reason));
    expect(reasons).toHaveLength(0);
    await watch.memberAccessChanged({ memberId: member(0).memberId });
    await watch.memberAccessChanged({ memberId: member(0).memberId });
    expect(reasons).toEqual([suspended]);
    dispose();
  });
});
