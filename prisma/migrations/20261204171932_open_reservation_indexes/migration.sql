-- DropIndex
DROP INDEX "Reservation_memberId_kind_status_idx";

-- DropIndex
DROP INDEX "Reservation_organizationId_modelId_status_idx";

-- DropIndex
DROP INDEX "Reservation_status_expiresAt_idx";

-- CreateIndex
CREATE INDEX "Reservation_open_organizationId_modelId_idx" ON "Reservation"("organizationId", "modelId") WHERE (status = 'OPEN');

-- CreateIndex
CREATE INDEX "Reservation_open_expiresAt_idx" ON "Reservation"("expiresAt") WHERE (status = 'OPEN');
