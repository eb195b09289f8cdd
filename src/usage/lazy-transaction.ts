// A transaction that begins only when first used. The usage hooks (auto-increase, spend alerts) decide from
// cached policy and thresholds in the common case and touch the database only when something is due; handing
// them this instead of an open transaction saves the hot path a BEGIN and a COMMIT round trip per batch.
import type { Tx } from "../ledger/tx.ts";
import type { Runtime } from "../runtime.ts";

export interface LazyTransaction {
  tx: Tx;
  /** Commits the transaction if it was begun. */
  commit(): Promise<void>;
  /** Rolls the transaction back if it was begun. */
  rollback(error: unknown): Promise<void>;
}

export function lazyTransaction(runtime: Runtime): LazyTransaction {
  let begun: Promise<Tx> | null = null;
  let finished: Promise<unknown> | null = null;
  let end: { resolve(): void; reject(error: unknown): void } | null = null;

  const begin = (): Promise<Tx> =>
    (begun ??= new Promise<Tx>((resolveTx, rejectTx) => {
      finished = runtime.prisma
        .$transaction(
          (real) =>
            new Promise<void>((resolve, reject) => {
              end = { resolve, reject };
              resolveTx(real);
            }),
          { timeout: 30_000, maxWait: 10_000 },
        )
        .catch((error: unknown) => {
          rejectTx(error);
          throw error;
        });
    }));

  const call =
    (target: (real: Tx) => (...args: unknown[]) => unknown) =>
    (...args: unknown[]) =>
      begin().then((real) => target(real)(...args));
  const tx = new Proxy({} as Tx, {
    get(_target, property) {
      if (typeof property !== "string" || property === "then") return undefined;
      if (property.startsWith("$")) return call((real) => (real as any)[property].bind(real));
      return new Proxy({}, { get: (_delegate, method) => call((real) => (real as any)[property][method].bind((real as any)[property])) });
    },
  });

  return {
    tx,
    async commit() {
      if (!begun) return;
      await begun;
      end!.resolve();
      await finished;
    },
    async rollback(error) {
      if (!begun) return;
      try {
        await begun;
      } catch {
        return;
      }
      end!.reject(error);
      await finished!.catch(() => {});
    },
  };
}
