// `npm run bench [-- <name filter>]`: runs each benchmark module in turn and prints its results.
// Benchmarks add themselves to BENCHES; each is bounded in count and time and cleans up after itself.

import { fanoutBench } from "./fanout.bench.ts";
import { membersBench } from "./members.bench.ts";
import { rebalanceBench } from "./rebalance.bench.ts";
import { requestsBench } from "./requests.bench.ts";
import { spendBench } from "./spend.bench.ts";
import type { BenchModule } from "./support.ts";
import { usageBench } from "./usage.bench.ts";

const BENCHES: BenchModule[] = [usageBench, rebalanceBench, spendBench, requestsBench, membersBench, fanoutBench];

const filter = process.argv[2]?.toLowerCase();
for (const bench of BENCHES.filter((b) => !filter || b.name.toLowerCase().includes(filter))) {
  console.log(`\n== ${bench.name}`);
  const started = performance.now();
  for (const result of await bench.run()) {
    console.log(`  ${result.name}`);
    for (const [metric, value] of Object.entries(result.metrics)) console.log(`    ${metric.padEnd(14)} ${value}`);
  }
  console.log(`  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}
process.exit(0);
