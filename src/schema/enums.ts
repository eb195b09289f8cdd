// The contract's enums, shared by every domain's schema.
import { builder } from "../builder.ts";

export const RoleEnum = builder.enumType("Role", { values: ["ADMIN", "MEMBER"] as const });
export const TokenKindEnum = builder.enumType("TokenKind", { values: ["INFERENCE", "TRAINING"] as const });
export const PresetNameEnum = builder.enumType("PresetName", {
  values: ["CONSERVATIVE", "STANDARD", "AGGRESSIVE", "DYNAMIC", "CUSTOM"] as const,
});
export const TriggerModeEnum = builder.enumType("TriggerMode", { values: ["TIERED", "FLAT_THRESHOLD"] as const });
export const BumpMethodEnum = builder.enumType("BumpMethod", {
  values: ["FLAT", "PERCENT_OF_CURRENT", "PERCENT_OF_REMAINING"] as const,
});
export const RebalanceFrequencyEnum = builder.enumType("RebalanceFrequency", {
  values: ["OFF", "HOURLY", "DAILY", "WEEKLY"] as const,
});
export const TokenRequestStatusEnum = builder.enumType("TokenRequestStatus", {
  values: ["PENDING", "APPROVED", "REJECTED", "CANCELLED"] as const,
});
export const UsageDenialReasonEnum = builder.enumType("UsageDenialReason", {
  values: [
    "INSUFFICIENT_BALANCE",
    "DAILY_LIMIT_REACHED",
    "MONTHLY_LIMIT_REACHED",
    "MODEL_CAP_REACHED",
    "MODEL_DISABLED",
    "BUDGET_EXHAUSTED",
    "MEMBER_SUSPENDED",
  ] as const,
});
