-- AlterTable
ALTER TABLE "Member" ADD COLUMN     "tokensValidAfter" TIMESTAMP(3);
