// What every service needs for the life of a server process, built once by buildApp() (src/server/app.ts), the
// one composition root, and shared by all requests. Nothing here is created by importing a module.
import type { Authenticator } from "./auth/authenticate.ts";
import type { CredentialWatch } from "./auth/credential-watch.ts";
import type { JwtVerifier } from "./auth/jwt.ts";
import type { Clock } from "./clock.ts";
import type { Config } from "./config.ts";
import type { Database } from "./db/database.ts";
import type { PrismaClient } from "./db/generated/client.ts";
import type { LiveBalances } from "./members/live.ts";
import type { PolicyCache } from "./policy/cache.ts";
import type { AppPubSub } from "./pubsub.ts";
import type { ThresholdCache } from "./spend/alerts.ts";
import type { AfterChargeHook } from "./usage/after-charge.ts";
import type { ChargedRow, ChargeItem } from "./usage/charges.ts";
import type { GroupCommit } from "./usage/group-commit.ts";
import type { HoldItem, HoldOutcome } from "./usage/holds.ts";
import type { StandingItem, StandingRows } from "./usage/standings.ts";

export interface Runtime {
  config: Config;
  db: Database;
  prisma: PrismaClient;
  pubsub: AppPubSub;
  clock: Clock;
  jwt: JwtVerifier;
  authenticator: Authenticator;
  /** Distribution policies for the hot path, evicted in every process when one changes. */
  policies: PolicyCache;
  /** Spend thresholds for the after-charge alerts, evicted in every process when they change. */
  spendThresholds: ThresholdCache;
  /** The group-committed usage writes of this process. */
  charges: GroupCommit<ChargeItem, ChargedRow>;
  holds: GroupCommit<HoldItem, HoldOutcome>;
  /** authorizeUsage's reads of standing, grouped the same way. */
  standings: GroupCommit<StandingItem, StandingRows>;
  /** balanceChanged subscriptions of this process: one feed per watched member. */
  liveBalances: LiveBalances;
  /** What follows every batch of charges, in this order. */
  afterCharge: readonly AfterChargeHook[];
  /** Ends subscriptions and connections whose credential's right ended. */
  credentials: CredentialWatch;
}
