// The distribution presets of the contract's table. Pure data and rules; no I/O.
import type { BumpMethod, PresetName, RebalanceFrequency, TriggerMode } from "../db/generated/enums.ts";

export interface PolicyValues {
  preset: PresetName;
  inferenceFloor: bigint;
  trainingFloor: bigint;
  /** null: unlimited. */
  ceiling: bigint | null;
  autoIncrease: boolean;
  triggerMode: TriggerMode;
  triggerPercent: number;
  cooldownMinutes: number;
  bumpMethod: BumpMethod;
  bumpAmount: number;
  bufferDays: number;
  nearMaxThreshold: number | null;
  nearMaxBump: number | null;
  monthlyResetToFloor: boolean;
  reclamation: boolean;
  rebalanceFrequency: RebalanceFrequency;
}

export type FixedPresetName = Exclude<PresetName, "CUSTOM">;

export const PRESETS: Record<FixedPresetName, { description: string; policy: PolicyValues }> = {
  CONSERVATIVE: {
    description: "Cost-conscious organisations: 200K floors, 1M ceiling, bumps of 25 % at 90 % use, 4 h cooldown.",
    policy: {
      preset: "CONSERVATIVE",
      inferenceFloor: 200_000n,
      trainingFloor: 200_000n,
      ceiling: 1_000_000n,
      autoIncrease: true,
      triggerMode: "FLAT_THRESHOLD",
      triggerPercent: 90,
      cooldownMinutes: 240,
      bumpMethod: "PERCENT_OF_CURRENT",
      bumpAmount: 25,
      bufferDays: 0,
      nearMaxThreshold: null,
      nearMaxBump: null,
      monthlyResetToFloor: true,
      reclamation: false,
      rebalanceFrequency: "OFF",
    },
  },
  STANDARD: {
    description: "Balanced teams: 500K floors, 5M ceiling, bumps of 25 % at 80 % use (50 % near the ceiling), 1 h cooldown.",
    policy: {
      preset: "STANDARD",
      inferenceFloor: 500_000n,
      trainingFloor: 500_000n,
      ceiling: 5_000_000n,
      autoIncrease: true,
      triggerMode: "FLAT_THRESHOLD",
      triggerPercent: 80,
      cooldownMinutes: 60,
      bumpMethod: "PERCENT_OF_CURRENT",
      bumpAmount: 25,
      bufferDays: 0,
      nearMaxThreshold: 0.8,
      nearMaxBump: 50,
      monthlyResetToFloor: true,
      reclamation: false,
      rebalanceFrequency: "OFF",
    },
  },
  AGGRESSIVE: {
    description: "High-trust power users: 1M floors, no ceiling, flat bumps of 500K at 75 % use, 30 min cooldown.",
    policy: {
      preset: "AGGRESSIVE",
      inferenceFloor: 1_000_000n,
      trainingFloor: 1_000_000n,
      ceiling: null,
      autoIncrease: true,
      triggerMode: "FLAT_THRESHOLD",
      triggerPercent: 75,
      cooldownMinutes: 30,
      bumpMethod: "FLAT",
      bumpAmount: 500_000,
      bufferDays: 0,
      nearMaxThreshold: null,
      nearMaxBump: null,
      monthlyResetToFloor: true,
      reclamation: false,
      rebalanceFrequency: "OFF",
    },
  },
  DYNAMIC: {
    description:
      "Large organisations with mixed usage: 500K floors, no ceiling, tiered bumps of 25 % of what remains, reclamation and daily rebalancing.",
    policy: {
      preset: "DYNAMIC",
      inferenceFloor: 500_000n,
      trainingFloor: 500_000n,
      ceiling: null,
      autoIncrease: true,
      triggerMode: "TIERED",
      triggerPercent: 75,
      cooldownMinutes: 60,
      bumpMethod: "PERCENT_OF_REMAINING",
      bumpAmount: 25,
      bufferDays: 3,
      nearMaxThreshold: null,
      nearMaxBump: null,
      monthlyResetToFloor: true,
      reclamation: true,
      rebalanceFrequency: "DAILY",
    },
  },
};

export const DEFAULT_PRESET: FixedPresetName = "STANDARD";

export interface MemberOverride {
  hasOverride: boolean;
  overrideFloor: bigint | null;
  overrideCeiling: bigint | null;
  overrideUnlimitedCeiling: boolean;
}

/** The floor and ceiling in force for one member and kind: the override where set, else the policy. */
export function effectiveBounds(
  policy: Pick<PolicyValues, "inferenceFloor" | "trainingFloor" | "ceiling">,
  member: MemberOverride,
  kind: "INFERENCE" | "TRAINING",
): { floor: bigint; ceiling: bigint | null } {
  const policyFloor = kind === "INFERENCE" ? policy.inferenceFloor : policy.trainingFloor;
  if (!member.hasOverride) return { floor: policyFloor, ceiling: policy.ceiling };
  const floor = member.overrideFloor ?? policyFloor;
  const ceiling = member.overrideUnlimitedCeiling ? null : (member.overrideCeiling ?? policy.ceiling);
  return { floor, ceiling };
}
