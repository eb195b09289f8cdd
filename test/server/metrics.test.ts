// Operation names are the client's to choose: the metrics keep at most MAX_OPERATION_NAMES of them as series and
// count the rest together, so random names cannot grow the registry (the server's memory, the scrape) without bound.
import { describe, expect, it } from "vitest";
import { MAX_OPERATION_NAMES, Metrics, OTHER_OPERATIONS } from "../../src/server/metrics.ts";

const seriesOf = (text: string) => text.split("\n").filter((line) => line.startsWith("tokenwarden_graphql_operations_total{"));

describe("operation metrics", () => {
  it("counts each operation by type, name and outcome, with its duration by type", async () => {
    const metrics = new Metrics(false);
    metrics.recordOperation("query", "Probe", false, 0.002);
    metrics.recordOperation("query", "Probe", false, 0.004);
    metrics.recordOperation("query", "Probe", true, 0.5);
    metrics.recordOperation("mutation", "Charge", false, 0.001);
    const text = await metrics.registry.metrics();
    expect(seriesOf(text).sort()).toEqual([
      'tokenwarden_graphql_operations_total{type="mutation",name="Charge",outcome="ok"} 1',
      'tokenwarden_graphql_operations_total{type="query",name="Probe",outcome="error"} 1',
      'tokenwarden_graphql_operations_total{type="query",name="Probe",outcome="ok"} 2',
    ]);
    expect(text).toContain('tokenwarden_graphql_operation_seconds_count{type="query"} 3');
    expect(text).toContain('tokenwarden_graphql_operation_seconds_bucket{le="0.0025",type="query"} 1');
    expect(text).toContain('tokenwarden_graphql_operation_seconds_count{type="mutation"} 1');
  });

  it("keeps at most MAX_OPERATION_NAMES names and counts the others together", async () => {
    const metrics = new Metrics(false);
    const extra = 250;
    for (let i = 0; i < MAX_OPERATION_NAMES + extra; i++) metrics.recordOperation("query", `Random${i}`, false, 0.001);
    // A name kept before the limit was reached is still its own.
    metrics.recordOperation("query", "Random0", false, 0.001);
    const series = seriesOf(await metrics.registry.metrics());
    expect(series).toHaveLength(MAX_OPERATION_NAMES + 1);
    expect(series).toContain(`tokenwarden_graphql_operations_total{type="query",name="${OTHER_OPERATIONS}",outcome="ok"} ${extra}`);
    expect(series).toContain('tokenwarden_graphql_operations_total{type="query",name="Random0",outcome="ok"} 2');
  });
});

describe("request and group-commit metrics", () => {
  it("times requests by method, folding unusual methods together", async () => {
    const metrics = new Metrics(false);
    metrics.recordHttpRequest("POST", 0.004);
    metrics.recordHttpRequest("POST", 0.03);
    metrics.recordHttpRequest("GET", 0.001);
    metrics.recordHttpRequest("PROPFIND", 0.001);
    metrics.recordHttpRequest(undefined, 0.001);
    const text = await metrics.registry.metrics();
    expect(text).toContain('tokenwarden_http_request_seconds_count{method="POST"} 2');
    expect(text).toContain('tokenwarden_http_request_seconds_bucket{le="0.005",method="POST"} 1');
    expect(text).toContain('tokenwarden_http_request_seconds_count{method="GET"} 1');
    expect(text).toContain('tokenwarden_http_request_seconds_count{method="other"} 2');
    expect(text).not.toContain("PROPFIND");
  });

  it("keeps each group-commit queue's statements, items, skips and items set aside as series of its own", async () => {
    const metrics = new Metrics(false);
    const charges = metrics.groupCommitObserver("charges");
    const holds = metrics.groupCommitObserver("holds");
    charges.batchWritten(12, 0.006);
    charges.batchWritten(3, 0.002);
    for (let i = 0; i < 15; i++) charges.itemSettled(0.01);
    charges.itemsSkipped(4);
    charges.itemsSetAside(2);
    holds.batchWritten(1, 0.001);
    const text = await metrics.registry.metrics();
    expect(text).toContain('tokenwarden_group_commit_batch_items_sum{queue="charges"} 15');
    expect(text).toContain('tokenwarden_group_commit_batch_items_count{queue="charges"} 2');
    expect(text).toContain('tokenwarden_group_commit_batch_items_bucket{le="4",queue="charges"} 1');
    expect(text).toContain('tokenwarden_group_commit_write_seconds_bucket{le="0.0025",queue="charges"} 1');
    expect(text).toContain('tokenwarden_group_commit_item_seconds_count{queue="charges"} 15');
    expect(text).toContain('tokenwarden_group_commit_skipped_total{queue="charges"} 4');
    expect(text).toContain('tokenwarden_group_commit_set_aside_total{queue="charges"} 2');
    expect(text).toContain('tokenwarden_group_commit_batch_items_count{queue="holds"} 1');
  });
});
