-- CreateEnum
CREATE TYPE "UsageDimension" AS ENUM ('APP', 'ASSISTANT', 'MEMBER', 'MODEL');

-- CreateTable
CREATE TABLE "UsageDailyRollup" (
    "organizationId" UUID NOT NULL,
    "dimension" "UsageDimension" NOT NULL,
    "day" TIMESTAMP(3) NOT NULL,
    "key" TEXT NOT NULL,
    "requests" BIGINT NOT NULL,
    "tokens" BIGINT NOT NULL,
    "cost" DECIMAL(24,8) NOT NULL,

    CONSTRAINT "UsageDailyRollup_pkey" PRIMARY KEY ("organizationId","dimension","day","key")
);

-- CreateTable
CREATE TABLE "UsageRollupCursor" (
    "organizationId" UUID NOT NULL,
    "rolledThrough" TIMESTAMP(3) NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "UsageRollupCursor_pkey" PRIMARY KEY ("organizationId")
);

-- AddForeignKey
ALTER TABLE "UsageDailyRollup" ADD CONSTRAINT "UsageDailyRollup_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "UsageRollupCursor" ADD CONSTRAINT "UsageRollupCursor_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;
