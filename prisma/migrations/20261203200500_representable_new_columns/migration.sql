-- Columns added beside representable_totals keep its rule: every BIGINT stays within 2^53-1 (and ≥ 0).
ALTER TABLE "Balance" ADD CONSTRAINT "Balance_version_representable" CHECK ("version" BETWEEN 0 AND 9007199254740991);
ALTER TABLE "Organization" ADD CONSTRAINT "Organization_minimumFloor_representable" CHECK ("minimumFloor" BETWEEN 0 AND 9007199254740991);
