-- CreateTable
CREATE TABLE "UsageTotal" (
    "organizationId" UUID NOT NULL,
    "tokens" BIGINT NOT NULL DEFAULT 0,
    "cost" DECIMAL(24,8) NOT NULL DEFAULT 0,

    CONSTRAINT "UsageTotal_pkey" PRIMARY KEY ("organizationId")
);

-- AddForeignKey
ALTER TABLE "UsageTotal" ADD CONSTRAINT "UsageTotal_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Backfill: every organisation's usage so far.
INSERT INTO "UsageTotal" ("organizationId", "tokens", "cost")
SELECT "organizationId", sum("tokens"), sum("cost") FROM "UsageRecord" GROUP BY "organizationId";

-- Every token amount stays within what a client can read exactly (2^53-1, the API's SafeInt): no statement can store
-- more, whatever path it takes. test/db/representable.test.ts checks that every BIGINT column has one.
ALTER TABLE "Organization" ADD CONSTRAINT "Organization_defaultDailyLimit_representable" CHECK ("defaultDailyLimit" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "Organization" ADD CONSTRAINT "Organization_defaultMonthlyLimit_representable" CHECK ("defaultMonthlyLimit" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "Organization" ADD CONSTRAINT "Organization_autoApproveMaxAmount_representable" CHECK ("autoApproveMaxAmount" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "Organization" ADD CONSTRAINT "Organization_autoApprovePoolReserve_representable" CHECK ("autoApprovePoolReserve" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "Pool" ADD CONSTRAINT "Pool_tokens_representable" CHECK ("tokens" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "Pool" ADD CONSTRAINT "Pool_purchasedTotal_representable" CHECK ("purchasedTotal" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "Pool" ADD CONSTRAINT "Pool_consumedInClosedCycles_representable" CHECK ("consumedInClosedCycles" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "Member" ADD CONSTRAINT "Member_dailyLimit_representable" CHECK ("dailyLimit" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "Member" ADD CONSTRAINT "Member_monthlyLimit_representable" CHECK ("monthlyLimit" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "Member" ADD CONSTRAINT "Member_overrideFloor_representable" CHECK ("overrideFloor" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "Member" ADD CONSTRAINT "Member_overrideCeiling_representable" CHECK ("overrideCeiling" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "Balance" ADD CONSTRAINT "Balance_limit_representable" CHECK ("limit" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "Balance" ADD CONSTRAINT "Balance_used_representable" CHECK ("used" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "Balance" ADD CONSTRAINT "Balance_reserved_representable" CHECK ("reserved" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "Balance" ADD CONSTRAINT "Balance_usedOnDay_representable" CHECK ("usedOnDay" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "Purchase" ADD CONSTRAINT "Purchase_tokens_representable" CHECK ("tokens" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "LedgerEntry" ADD CONSTRAINT "LedgerEntry_poolDelta_representable" CHECK ("poolDelta" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "LedgerEntry" ADD CONSTRAINT "LedgerEntry_limitDelta_representable" CHECK ("limitDelta" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "LedgerEntry" ADD CONSTRAINT "LedgerEntry_usedDelta_representable" CHECK ("usedDelta" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "ModelCycleSpend" ADD CONSTRAINT "ModelCycleSpend_tokens_representable" CHECK ("tokens" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "Reservation" ADD CONSTRAINT "Reservation_tokens_representable" CHECK ("tokens" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "UsageRecord" ADD CONSTRAINT "UsageRecord_inputTokens_representable" CHECK ("inputTokens" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "UsageRecord" ADD CONSTRAINT "UsageRecord_outputTokens_representable" CHECK ("outputTokens" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "UsageRecord" ADD CONSTRAINT "UsageRecord_tokens_representable" CHECK ("tokens" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "TokenRequest" ADD CONSTRAINT "TokenRequest_amount_representable" CHECK ("amount" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "TokenRequest" ADD CONSTRAINT "TokenRequest_balanceAtRequest_representable" CHECK ("balanceAtRequest" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "DistributionPolicy" ADD CONSTRAINT "DistributionPolicy_inferenceFloor_representable" CHECK ("inferenceFloor" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "DistributionPolicy" ADD CONSTRAINT "DistributionPolicy_trainingFloor_representable" CHECK ("trainingFloor" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "DistributionPolicy" ADD CONSTRAINT "DistributionPolicy_ceiling_representable" CHECK ("ceiling" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "UsageDailyRollup" ADD CONSTRAINT "UsageDailyRollup_requests_representable" CHECK ("requests" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "UsageDailyRollup" ADD CONSTRAINT "UsageDailyRollup_tokens_representable" CHECK ("tokens" BETWEEN -9007199254740991 AND 9007199254740991);
ALTER TABLE "UsageTotal" ADD CONSTRAINT "UsageTotal_tokens_representable" CHECK ("tokens" BETWEEN -9007199254740991 AND 9007199254740991);
