// Failed authentications per client address: past the limit, every credential from that address is refused for the
// rest of the window (RATE_LIMITED), so guessing the operator key, an API key or a token secret costs real time.
// In-process: each server process counts its own failures (a client spread over N processes gets N times the limit).
import { AppError } from "../errors.ts";

const WINDOW_MS = 60_000;
/** Bounds memory under a flood of distinct addresses; expired windows are dropped first. */
const MAX_TRACKED_ADDRESSES = 100_000;

export class FailedAuthentications {
  readonly #windows = new Map<string, { failures: number; resetAt: number }>();
  readonly #perWindow: number;

  constructor(perMinute: number) {
    this.#perWindow = perMinute;
  }

  /** Throws RATE_LIMITED (HTTP 429) while `address` is over the limit. */
  assertAllowed(address: string): void {
    const window = this.#windows.get(address);
    if (!window) return;
    const now = Date.now();
    if (window.resetAt <= now) {
      this.#windows.delete(address);
      return;
    }
    if (window.failures >= this.#perWindow) throw tooManyFailures(Math.ceil((window.resetAt - now) / 1000));
  }

  record(address: string): void {
    const now = Date.now();
    const window = this.#windows.get(address);
    if (window && window.resetAt > now) {
      window.failures += 1;
      return;
    }
    if (this.#windows.size >= MAX_TRACKED_ADDRESSES) this.#prune(now);
    this.#windows.set(address, { failures: 1, resetAt: now + WINDOW_MS });
  }

  #prune(now: number): void {
    for (const [address, window] of this.#windows) if (window.resetAt <= now) this.#windows.delete(address);
    // Still full: forget the oldest (Map keeps insertion order), never grow without bound.
    for (const address of this.#windows.keys()) {
      if (this.#windows.size < MAX_TRACKED_ADDRESSES) break;
      this.#windows.delete(address);
    }
  }
}

function tooManyFailures(retryAfterSeconds: number): AppError {
  return new AppError("RATE_LIMITED", `Too many failed authentications from this address; retry in ${retryAfterSeconds} s.`, {
    retryAfterSeconds,
    http: { status: 429, headers: { "retry-after": String(retryAfterSeconds) } },
  });
}
