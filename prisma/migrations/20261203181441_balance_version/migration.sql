-- AlterTable
ALTER TABLE "Balance" ADD COLUMN     "version" BIGINT NOT NULL DEFAULT 0;
