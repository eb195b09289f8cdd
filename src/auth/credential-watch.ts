// Ends what a credential holds open (graphql-ws connections, subscription streams) when its right ends: at the
// token's `exp`, or when an event says the API key was revoked or the member suspended, demoted or its tokens revoked.
// Every server process follows the events (through Redis when configured), so the end comes everywhere at once.
import { type AppError, unauthenticated } from "../errors.ts";
import type { Authenticator } from "./authenticate.ts";
import type { Principal } from "./principal.ts";

type End = (reason: AppError) => void;

/** setTimeout's longest delay; longer waits are re-armed. */
const MAX_TIMER_MS = 2_147_483_647;

export class CredentialWatch {
  readonly #byCredential = new Map<string, Set<{ principal: Principal; end: End }>>();
  readonly #authenticator: Authenticator;

  constructor(authenticator: Authenticator) {
    this.#authenticator = authenticator;
  }

  /** Calls `end` once, with the reason, when the principal's credential stops holding. Returns the disposer. */
  watch(principal: Principal, end: End): () => void {
    const key = credentialKey(principal);
    if (!key) return () => {};
    let timer: NodeJS.Timeout | undefined;
    const watcher = {
      principal,
      end: (reason: AppError) => {
        dispose();
        end(reason);
      },
    };
    const dispose = () => {
      clearTimeout(timer);
      const watchers = this.#byCredential.get(key);
      watchers?.delete(watcher);
      if (watchers?.size === 0) this.#byCredential.delete(key);
    };
    const watchers = this.#byCredential.get(key) ?? new Set();
    this.#byCredential.set(key, watchers);
    watchers.add(watcher);
    if (principal.kind === "MEMBER") {
      const expire = () => {
        const left = principal.tokenExpiresAt - Date.now();
        if (left <= 0) watcher.end(unauthenticated("The access token expired."));
        else timer = setTimeout(expire, Math.min(left, MAX_TIMER_MS)).unref();
      };
      // Kept with the others first: a token that expired already is ended, and taken out, at once.
      expire();
    }
    return dispose;
  }

  /** An API key was revoked (in some process): its cached lookup goes, its open subscriptions end. */
  apiKeyRevoked({ secretHash, apiKeyId }: { secretHash: string; apiKeyId: string }): void {
    this.#authenticator.forgetApiKey(secretHash);
    this.#endAll(`apiKey:${apiKeyId}`, unauthenticated("The API key was revoked."));
  }

  /** A member's standing changed (in some process): its cached standing goes, its open credentials are re-checked. */
  async memberAccessChanged({ memberId }: { memberId: string }): Promise<void> {
    this.#authenticator.forgetMember(memberId);
    await this.#recheck(`member:${memberId}`);
  }

  #endAll(key: string, reason: AppError): void {
    for (const watcher of [...(this.#byCredential.get(key) ?? [])]) watcher.end(reason);
  }

  async #recheck(key: string): Promise<void> {
    for (const watcher of [...(this.#byCredential.get(key) ?? [])]) {
      try {
        const reason = await this.#authenticator.revocationOf(watcher.principal);
        if (reason) watcher.end(reason);
      } catch (error) {
        // The database is unreachable: keep the stream; the next event or the token's expiry decides.
        console.error("Re-checking a credential failed:", error);
      }
    }
  }
}

function credentialKey(principal: Principal): string | null {
  if (principal.kind === "MEMBER") return `member:${principal.memberId}`;
  if (principal.kind === "SERVICE") return `apiKey:${principal.apiKeyId}`;
  return null;
}
