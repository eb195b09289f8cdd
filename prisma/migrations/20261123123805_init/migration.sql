-- CreateEnum
CREATE TYPE "Role" AS ENUM ('ADMIN', 'MEMBER');

-- CreateEnum
CREATE TYPE "TokenKind" AS ENUM ('INFERENCE', 'TRAINING');

-- CreateEnum
CREATE TYPE "PresetName" AS ENUM ('CONSERVATIVE', 'STANDARD', 'AGGRESSIVE', 'DYNAMIC', 'CUSTOM');

-- CreateEnum
CREATE TYPE "TriggerMode" AS ENUM ('TIERED', 'FLAT_THRESHOLD');

-- CreateEnum
CREATE TYPE "BumpMethod" AS ENUM ('FLAT', 'PERCENT_OF_CURRENT', 'PERCENT_OF_REMAINING');

-- CreateEnum
CREATE TYPE "RebalanceFrequency" AS ENUM ('OFF', 'HOURLY', 'DAILY', 'WEEKLY');

-- CreateEnum
CREATE TYPE "TokenRequestStatus" AS ENUM ('PENDING', 'APPROVED', 'REJECTED', 'CANCELLED');

-- CreateEnum
CREATE TYPE "LedgerEntryType" AS ENUM ('PURCHASE', 'ALLOCATION', 'REQUEST_APPROVAL', 'AUTO_INCREASE', 'DISTRIBUTION', 'RECLAMATION', 'CYCLE_RESET', 'FLOOR_TOP_UP');

-- CreateEnum
CREATE TYPE "ReservationStatus" AS ENUM ('OPEN', 'COMMITTED', 'RELEASED', 'EXPIRED');

-- CreateTable
CREATE TABLE "Organization" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "currency" TEXT NOT NULL DEFAULT 'EUR',
    "planBudget" DECIMAL(20,8) NOT NULL DEFAULT 0,
    "overageLimit" DECIMAL(20,8) NOT NULL DEFAULT 0,
    "cycleAnchorDay" INTEGER NOT NULL DEFAULT 1,
    "currentCycleStart" TIMESTAMP(3) NOT NULL,
    "automaticFallback" BOOLEAN NOT NULL DEFAULT true,
    "defaultDailyLimit" BIGINT,
    "defaultMonthlyLimit" BIGINT,
    "autoApproveMaxAmount" BIGINT,
    "autoApprovePoolReserve" BIGINT NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Organization_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Pool" (
    "organizationId" UUID NOT NULL,
    "kind" "TokenKind" NOT NULL,
    "tokens" BIGINT NOT NULL DEFAULT 0,
    "purchasedTotal" BIGINT NOT NULL DEFAULT 0,
    "consumedInClosedCycles" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "Pool_pkey" PRIMARY KEY ("organizationId","kind")
);

-- CreateTable
CREATE TABLE "Team" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Team_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Member" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "email" TEXT NOT NULL,
    "name" TEXT,
    "role" "Role" NOT NULL DEFAULT 'MEMBER',
    "teamId" UUID,
    "suspended" BOOLEAN NOT NULL DEFAULT false,
    "hasLimitsOverride" BOOLEAN NOT NULL DEFAULT false,
    "dailyLimit" BIGINT,
    "monthlyLimit" BIGINT,
    "hasOverride" BOOLEAN NOT NULL DEFAULT false,
    "overrideFloor" BIGINT,
    "overrideCeiling" BIGINT,
    "overrideUnlimitedCeiling" BOOLEAN NOT NULL DEFAULT false,
    "overrideExcluded" BOOLEAN NOT NULL DEFAULT false,
    "firstUsageAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Member_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Balance" (
    "memberId" UUID NOT NULL,
    "kind" "TokenKind" NOT NULL,
    "organizationId" UUID NOT NULL,
    "limit" BIGINT NOT NULL DEFAULT 0,
    "used" BIGINT NOT NULL DEFAULT 0,
    "reserved" BIGINT NOT NULL DEFAULT 0,
    "usedOnDay" BIGINT NOT NULL DEFAULT 0,
    "usedDay" DATE,
    "lastAutoIncreaseAt" TIMESTAMP(3),
    "lastTier" INTEGER NOT NULL DEFAULT 0,
    "preemptiveBumpCycle" TIMESTAMP(3),
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Balance_pkey" PRIMARY KEY ("memberId","kind")
);

-- CreateTable
CREATE TABLE "Purchase" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "kind" "TokenKind" NOT NULL,
    "tokens" BIGINT NOT NULL,
    "listPrice" DECIMAL(20,8) NOT NULL,
    "discountPercent" DECIMAL(5,2) NOT NULL,
    "price" DECIMAL(20,8) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Purchase_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "LedgerEntry" (
    "id" BIGSERIAL NOT NULL,
    "organizationId" UUID NOT NULL,
    "memberId" UUID,
    "kind" "TokenKind" NOT NULL,
    "type" "LedgerEntryType" NOT NULL,
    "poolDelta" BIGINT NOT NULL DEFAULT 0,
    "limitDelta" BIGINT NOT NULL DEFAULT 0,
    "usedDelta" BIGINT NOT NULL DEFAULT 0,
    "reference" TEXT,
    "actorId" TEXT,
    "note" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "LedgerEntry_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Model" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "key" TEXT NOT NULL,
    "displayName" TEXT NOT NULL,
    "inputPricePerMillion" DECIMAL(20,8) NOT NULL,
    "outputPricePerMillion" DECIMAL(20,8) NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "cap" DECIMAL(20,8),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Model_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ModelCycleSpend" (
    "organizationId" UUID NOT NULL,
    "modelId" UUID NOT NULL,
    "cycleStart" TIMESTAMP(3) NOT NULL,
    "spend" DECIMAL(24,8) NOT NULL DEFAULT 0,
    "requests" INTEGER NOT NULL DEFAULT 0,
    "tokens" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "ModelCycleSpend_pkey" PRIMARY KEY ("organizationId","modelId","cycleStart")
);

-- CreateTable
CREATE TABLE "Reservation" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "memberId" UUID NOT NULL,
    "modelId" UUID NOT NULL,
    "kind" "TokenKind" NOT NULL,
    "tokens" BIGINT NOT NULL,
    "estimatedCost" DECIMAL(24,8) NOT NULL,
    "status" "ReservationStatus" NOT NULL DEFAULT 'OPEN',
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "closedAt" TIMESTAMP(3),

    CONSTRAINT "Reservation_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "UsageRecord" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "memberId" UUID NOT NULL,
    "modelId" UUID NOT NULL,
    "kind" "TokenKind" NOT NULL,
    "inputTokens" BIGINT NOT NULL,
    "outputTokens" BIGINT NOT NULL,
    "tokens" BIGINT NOT NULL,
    "cost" DECIMAL(24,8) NOT NULL,
    "inputPricePerMillion" DECIMAL(20,8) NOT NULL,
    "outputPricePerMillion" DECIMAL(20,8) NOT NULL,
    "app" TEXT,
    "assistant" TEXT,
    "reservationId" UUID,
    "idempotencyKey" TEXT NOT NULL,
    "payloadHash" TEXT NOT NULL,
    "cycleStart" TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "UsageRecord_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TokenRequest" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "memberId" UUID NOT NULL,
    "kind" "TokenKind" NOT NULL,
    "amount" BIGINT NOT NULL,
    "reason" TEXT,
    "status" "TokenRequestStatus" NOT NULL DEFAULT 'PENDING',
    "pendingKey" TEXT,
    "balanceAtRequest" BIGINT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "decidedAt" TIMESTAMP(3),
    "decidedById" UUID,
    "decisionNote" TEXT,
    "autoApproved" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "TokenRequest_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TokenRequestDecision" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "requestId" UUID NOT NULL,
    "status" "TokenRequestStatus" NOT NULL,
    "automatic" BOOLEAN NOT NULL DEFAULT false,
    "actorId" UUID,
    "actorPrincipal" TEXT NOT NULL,
    "note" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TokenRequestDecision_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ApiKey" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "secretHash" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "ApiKey_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "DistributionPolicy" (
    "organizationId" UUID NOT NULL,
    "preset" "PresetName" NOT NULL,
    "inferenceFloor" BIGINT NOT NULL,
    "trainingFloor" BIGINT NOT NULL,
    "ceiling" BIGINT,
    "autoIncrease" BOOLEAN NOT NULL,
    "triggerMode" "TriggerMode" NOT NULL,
    "triggerPercent" DOUBLE PRECISION NOT NULL,
    "cooldownMinutes" INTEGER NOT NULL,
    "bumpMethod" "BumpMethod" NOT NULL,
    "bumpAmount" DOUBLE PRECISION NOT NULL,
    "bufferDays" INTEGER NOT NULL,
    "nearMaxThreshold" DOUBLE PRECISION,
    "nearMaxBump" DOUBLE PRECISION,
    "monthlyResetToFloor" BOOLEAN NOT NULL,
    "reclamation" BOOLEAN NOT NULL,
    "rebalanceFrequency" "RebalanceFrequency" NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "DistributionPolicy_pkey" PRIMARY KEY ("organizationId")
);

-- CreateTable
CREATE TABLE "ScheduledRun" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "job" TEXT NOT NULL,
    "slot" TIMESTAMP(3) NOT NULL,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMP(3),
    "outcome" JSONB,

    CONSTRAINT "ScheduledRun_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SpendThreshold" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "modelId" UUID,
    "percent" DOUBLE PRECISION NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SpendThreshold_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SpendAlert" (
    "id" UUID NOT NULL,
    "thresholdId" UUID NOT NULL,
    "cycleStart" TIMESTAMP(3) NOT NULL,
    "spend" DECIMAL(24,8) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SpendAlert_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Team_organizationId_name_key" ON "Team"("organizationId", "name");

-- CreateIndex
CREATE INDEX "Member_organizationId_createdAt_idx" ON "Member"("organizationId", "createdAt");

-- CreateIndex
CREATE INDEX "Member_teamId_idx" ON "Member"("teamId");

-- CreateIndex
CREATE UNIQUE INDEX "Member_organizationId_email_key" ON "Member"("organizationId", "email");

-- CreateIndex
CREATE INDEX "Balance_organizationId_kind_idx" ON "Balance"("organizationId", "kind");

-- CreateIndex
CREATE INDEX "Purchase_organizationId_createdAt_idx" ON "Purchase"("organizationId", "createdAt");

-- CreateIndex
CREATE INDEX "LedgerEntry_organizationId_kind_createdAt_idx" ON "LedgerEntry"("organizationId", "kind", "createdAt");

-- CreateIndex
CREATE INDEX "LedgerEntry_memberId_kind_idx" ON "LedgerEntry"("memberId", "kind");

-- CreateIndex
CREATE UNIQUE INDEX "Model_organizationId_key_key" ON "Model"("organizationId", "key");

-- CreateIndex
CREATE INDEX "Reservation_organizationId_modelId_status_idx" ON "Reservation"("organizationId", "modelId", "status");

-- CreateIndex
CREATE INDEX "Reservation_status_expiresAt_idx" ON "Reservation"("status", "expiresAt");

-- CreateIndex
CREATE INDEX "Reservation_memberId_kind_status_idx" ON "Reservation"("memberId", "kind", "status");

-- CreateIndex
CREATE UNIQUE INDEX "UsageRecord_reservationId_key" ON "UsageRecord"("reservationId");

-- CreateIndex
CREATE INDEX "UsageRecord_organizationId_createdAt_idx" ON "UsageRecord"("organizationId", "createdAt");

-- CreateIndex
CREATE INDEX "UsageRecord_memberId_kind_createdAt_idx" ON "UsageRecord"("memberId", "kind", "createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "UsageRecord_organizationId_idempotencyKey_key" ON "UsageRecord"("organizationId", "idempotencyKey");

-- CreateIndex
CREATE UNIQUE INDEX "TokenRequest_pendingKey_key" ON "TokenRequest"("pendingKey");

-- CreateIndex
CREATE INDEX "TokenRequest_organizationId_status_createdAt_idx" ON "TokenRequest"("organizationId", "status", "createdAt");

-- CreateIndex
CREATE INDEX "TokenRequest_memberId_createdAt_idx" ON "TokenRequest"("memberId", "createdAt");

-- CreateIndex
CREATE INDEX "TokenRequestDecision_organizationId_createdAt_idx" ON "TokenRequestDecision"("organizationId", "createdAt");

-- CreateIndex
CREATE INDEX "TokenRequestDecision_requestId_idx" ON "TokenRequestDecision"("requestId");

-- CreateIndex
CREATE UNIQUE INDEX "ApiKey_secretHash_key" ON "ApiKey"("secretHash");

-- CreateIndex
CREATE INDEX "ApiKey_organizationId_idx" ON "ApiKey"("organizationId");

-- CreateIndex
CREATE INDEX "ScheduledRun_organizationId_job_startedAt_idx" ON "ScheduledRun"("organizationId", "job", "startedAt");

-- CreateIndex
CREATE UNIQUE INDEX "ScheduledRun_organizationId_job_slot_key" ON "ScheduledRun"("organizationId", "job", "slot");

-- CreateIndex
CREATE UNIQUE INDEX "SpendThreshold_organizationId_modelId_percent_key" ON "SpendThreshold"("organizationId", "modelId", "percent");

-- CreateIndex
CREATE UNIQUE INDEX "SpendAlert_thresholdId_cycleStart_key" ON "SpendAlert"("thresholdId", "cycleStart");

-- AddForeignKey
ALTER TABLE "Pool" ADD CONSTRAINT "Pool_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Team" ADD CONSTRAINT "Team_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Member" ADD CONSTRAINT "Member_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Member" ADD CONSTRAINT "Member_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "Team"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Balance" ADD CONSTRAINT "Balance_memberId_fkey" FOREIGN KEY ("memberId") REFERENCES "Member"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Purchase" ADD CONSTRAINT "Purchase_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "LedgerEntry" ADD CONSTRAINT "LedgerEntry_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "LedgerEntry" ADD CONSTRAINT "LedgerEntry_memberId_fkey" FOREIGN KEY ("memberId") REFERENCES "Member"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Model" ADD CONSTRAINT "Model_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ModelCycleSpend" ADD CONSTRAINT "ModelCycleSpend_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ModelCycleSpend" ADD CONSTRAINT "ModelCycleSpend_modelId_fkey" FOREIGN KEY ("modelId") REFERENCES "Model"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Reservation" ADD CONSTRAINT "Reservation_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Reservation" ADD CONSTRAINT "Reservation_memberId_fkey" FOREIGN KEY ("memberId") REFERENCES "Member"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Reservation" ADD CONSTRAINT "Reservation_modelId_fkey" FOREIGN KEY ("modelId") REFERENCES "Model"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "UsageRecord" ADD CONSTRAINT "UsageRecord_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "UsageRecord" ADD CONSTRAINT "UsageRecord_memberId_fkey" FOREIGN KEY ("memberId") REFERENCES "Member"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "UsageRecord" ADD CONSTRAINT "UsageRecord_modelId_fkey" FOREIGN KEY ("modelId") REFERENCES "Model"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "UsageRecord" ADD CONSTRAINT "UsageRecord_reservationId_fkey" FOREIGN KEY ("reservationId") REFERENCES "Reservation"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TokenRequest" ADD CONSTRAINT "TokenRequest_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TokenRequest" ADD CONSTRAINT "TokenRequest_memberId_fkey" FOREIGN KEY ("memberId") REFERENCES "Member"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TokenRequest" ADD CONSTRAINT "TokenRequest_decidedById_fkey" FOREIGN KEY ("decidedById") REFERENCES "Member"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TokenRequestDecision" ADD CONSTRAINT "TokenRequestDecision_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TokenRequestDecision" ADD CONSTRAINT "TokenRequestDecision_requestId_fkey" FOREIGN KEY ("requestId") REFERENCES "TokenRequest"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TokenRequestDecision" ADD CONSTRAINT "TokenRequestDecision_actorId_fkey" FOREIGN KEY ("actorId") REFERENCES "Member"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ApiKey" ADD CONSTRAINT "ApiKey_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "DistributionPolicy" ADD CONSTRAINT "DistributionPolicy_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ScheduledRun" ADD CONSTRAINT "ScheduledRun_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SpendThreshold" ADD CONSTRAINT "SpendThreshold_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SpendThreshold" ADD CONSTRAINT "SpendThreshold_modelId_fkey" FOREIGN KEY ("modelId") REFERENCES "Model"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SpendAlert" ADD CONSTRAINT "SpendAlert_thresholdId_fkey" FOREIGN KEY ("thresholdId") REFERENCES "SpendThreshold"("id") ON DELETE CASCADE ON UPDATE CASCADE;
