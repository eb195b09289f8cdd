// Imports every domain's schema and builds it. No side effects beyond building the schema.
import { builder } from "../builder.ts";
import "./scalars.ts";
import "./enums.ts";
import "../organizations/schema.ts";
import "../members/schema.ts";
import "../members/mutations.ts";
import "../ledger/schema.ts";
import "../policy/schema.ts";
import "../apikeys/schema.ts";
import "../models/schema.ts";
import "../usage/schema.ts";
import "../spend/schema.ts";
import "../requests/schema.ts";

export const schema = builder.toSchema();
