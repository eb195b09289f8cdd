// The house's wiring, checked from the source: imports point down the layers (rules → ledger and services →
// schema → transport), domains register nothing with the transport, and importing the schema starts nothing.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const src = resolve(import.meta.dirname, "../../src");

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
}

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return entry.name === "generated" ? [] : sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

const IMPORT = /^(?:import|export)\s+(type\s+)?(?:[^"';]*?\s+from\s+)?["'](\.{1,2}\/[^"']+)["']/gm;

function importsOf(file: string): Import[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(IMPORT)].map((match) => ({
    from: relative(src, file),
    to: relative(src, resolve(dirname(file), match[2]!)),
    typeOnly: Boolean(match[1]),
  }));
}

const files = sourceFiles(src);
const imports = files.flatMap(importsOf);

/** Pure rules: no I/O, so they may import only other rules (and types). */
const isRules = (path: string) => /(^|\/)(rules|presets|pricing|cycle)\.ts$/.test(path) || path === "errors.ts" || path === "clock.ts";
const isSchema = (path: string) => /(^|\/)(schema|mutations)\.ts$/.test(path) || path.startsWith("schema/") || path === "builder.ts";
const isTransport = (path: string) => path.startsWith("server/") || path === "main.ts";
const layerOf = (path: string) => (isTransport(path) ? 3 : isSchema(path) ? 2 : isRules(path) ? 0 : 1);
const LAYERS = ["rules", "ledger and services", "schema", "transport"];

describe("layers", () => {
  it("finds the source and its imports (the checks below read something)", () => {
    expect(files.length).toBeGreaterThan(50);
    expect(imports.some((entry) => entry.from === "server/app.ts" && entry.to === "schema/index.ts")).toBe(true);
  });

  it("no domain folder imports the transport (src/server)", () => {
    const upward = imports.filter((entry) => !isTransport(entry.from) && isTransport(entry.to));
    expect(upward.map((entry) => `${entry.from} → ${entry.to}`)).toEqual([]);
  });

  it("every import points down the layers: rules → ledger and services → schema → transport", () => {
    const upward = imports.filter((entry) => !entry.typeOnly && layerOf(entry.to) > layerOf(entry.from));
    expect(upward.map((entry) => `${entry.from} (${LAYERS[layerOf(entry.from)]}) → ${entry.to} (${LAYERS[layerOf(entry.to)]})`)).toEqual(
      [],
    );
  });

  it("no module is imported only for its side effects", () => {
    const bare = files.flatMap((file) =>
      [...readFileSync(file, "utf8").matchAll(/^import\s+["'](\.{1,2}\/[^"']+)["'];?$/gm)].map(
        (match) => `${relative(src, file)} → ${match[1]}`,
      ),
    );
    // The schema's index pulls in each domain's schema slice: they define types on the builder and nothing else.
    expect(bare.filter((entry) => !entry.startsWith("schema/index.ts"))).toEqual([]);
  });

  it("no module keeps runtime state of its own: caches, queues and loops live on the runtime that buildApp builds", () => {
    const offenders = files.filter((file) => /new WeakMap<Runtime/.test(readFileSync(file, "utf8"))).map((file) => relative(src, file));
    expect(offenders).toEqual([]);
  });

  it("importing the schema starts nothing: no timer, socket or listener is left open", () => {
    const script = `await import(${JSON.stringify(join(src, "schema/index.ts"))});
      console.log(JSON.stringify(process.getActiveResourcesInfo().filter((kind) => !/TTY|Pipe/.test(kind))));`;
    const open = JSON.parse(
      execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" }).trim().split("\n").at(-1)!,
    );
    expect(open).toEqual([]);
  });
});
