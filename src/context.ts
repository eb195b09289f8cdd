// The per-operation context: a fresh object for every HTTP request and every subscription.
import type { Principal } from "./auth/principal.ts";
import type { Runtime } from "./runtime.ts";

export interface Context {
  principal: Principal;
  runtime: Runtime;
  requestId: string;
}
