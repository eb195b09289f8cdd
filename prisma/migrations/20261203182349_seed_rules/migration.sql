-- Every balance names the cycle its `used` belongs to: for existing rows, their organisation's current cycle.
-- AlterTable
ALTER TABLE "Balance" ADD COLUMN     "cycleStart" TIMESTAMP(3);
UPDATE "Balance" b SET "cycleStart" = o."currentCycleStart" FROM "Organization" o WHERE o."id" = b."organizationId";
ALTER TABLE "Balance" ALTER COLUMN "cycleStart" SET NOT NULL;

-- Existing organisations keep their cycleAnchorDay; they get the default minimum floor and no pending overage.
-- AlterTable
ALTER TABLE "Organization" ADD COLUMN     "minimumFloor" BIGINT NOT NULL DEFAULT 200000,
ADD COLUMN     "pendingOverageLimit" DECIMAL(20,8);
