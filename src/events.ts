// The typed event map: every channel and payload, declared once. Payloads are JSON (they may travel through Redis).
import type { TokenKind } from "./db/generated/enums.ts";

/** A member's balance of one kind as it stands after a change; token amounts fit in a JS number. */
export interface BalanceSnapshot {
  memberId: string;
  organizationId: string;
  kind: TokenKind;
  limit: number;
  used: number;
  reserved: number;
  lastAutoIncreaseAt: string | null;
  /** Balance.version of this state (a subscriber drops any event not newer than the last it sent). */
  version: number;
  /** The member's override changed with this event (its floor or ceiling): live feeds read it again. */
  overrideChanged?: true;
}

export interface TokenRequestEvent {
  requestId: string;
  memberId: string;
}

export interface SpendAlertEvent {
  thresholdId: string;
  modelId: string | null;
  percent: number;
  spend: string;
  cycleStart: string;
  /** The SpendAlert row: one per threshold and cycle. */
  alertId: string;
  /** The money the threshold stood for when it fired (percent of the envelope or of the model's cap). */
  amount: string;
  createdAt: string;
}

export type Events = {
  balanceChanged: [memberId: string, payload: BalanceSnapshot];
  allocationChanged: [organizationId: string, payload: { kind: TokenKind }];
  tokenRequestChanged: [organizationId: string, payload: TokenRequestEvent];
  /** Many requests changed at once (a bulk decision): one event, so no subscriber's queue floods. */
  tokenRequestsChanged: [organizationId: string, payload: { requests: TokenRequestEvent[] }];
  spendChanged: [organizationId: string, payload: { at: string }];
  spendAlert: [organizationId: string, payload: SpendAlertEvent];
  /** An organisation's distribution policy (or cycle) changed: evicts cached policies in every server process. */
  policyChanged: [payload: { organizationId: string }];
  /** An organisation's spend thresholds changed: evicts cached thresholds in every server process. */
  spendThresholdsChanged: [payload: { organizationId: string }];
  /**
   * This process missed events for a while (its Redis connection came back): live subscriptions read their values
   * again. Never leaves the process.
   */
  deliveryGap: [payload: { at: string }];
  /** Evicts cached API key lookups and ends the key's open subscriptions in every server process. */
  apiKeyRevoked: [payload: { secretHash: string; apiKeyId: string }];
  /**
   * A member's suspension, role or token validity changed: evicts its cached standing and re-checks its open
   * subscriptions in every server process.
   */
  memberAccessChanged: [payload: { memberId: string }];
};
