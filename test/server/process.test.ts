// `npm start` as an operator meets it: secrets in development, refusal in production, data that survives
// a restart, and a graceful stop on SIGTERM.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CreateOrganizationDocument, OrganizationSettingsDocument } from "../../src/client/generated/graphql.ts";
import { Api } from "../support/client.ts";

const root = new URL("../../", import.meta.url).pathname;
const dataDir = mkdtempSync(join(tmpdir(), "tokenwarden-process-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

interface Running {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function launch(env: Record<string, string>): Running {
  const child = spawn(process.execPath, ["src/main.ts"], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: "0", LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** The server's URL once it says it listens; fails if it exits first. No deadline: a busy host starts it slowly. */
async function listening(running: Running): Promise<string> {
  let exited = false;
  void running.exited.then(() => (exited = true));
  for (;;) {
    const match = running.output().match(/listening on (http:\/\/[^\s/]+)\/graphql/);
    if (match) return match[1]!.replace("localhost", "127.0.0.1");
    if (exited) throw new Error(`Server exited before listening:\n${running.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Two starts of a server process (PGlite opening its data, migrations) are heavy on a busy 2-core host. */
const PROCESS_TIMEOUT = 300_000;

describe.sequential("the server process", () => {
  it("refuses to start in production without its secrets", { timeout: PROCESS_TIMEOUT }, async () => {
    const running = launch({ NODE_ENV: "production", DATA_DIR: dataDir });
    expect(await running.exited).toBe(1);
    expect(running.output()).toMatch(/OPERATOR_API_KEY and AUTH_JWT_SECRET must be set/);
  });

  it("generates development secrets once, keeps data across restarts and stops cleanly on SIGTERM", {
    timeout: PROCESS_TIMEOUT,
  }, async () => {
    const first = launch({ DATA_DIR: dataDir });
    const url = await listening(first);
    const secrets = JSON.parse(readFileSync(join(dataDir, "secrets.json"), "utf8"));
    // Printed just after the listening line, possibly in a later chunk of the pipe.
    await expect.poll(() => first.output(), { timeout: PROCESS_TIMEOUT }).toContain(`Operator API key (generated`);
    expect(first.output()).toContain(secrets.operatorApiKey);

    const operator = new Api(url, secrets.operatorApiKey);
    const { createOrganization } = await operator.execute(CreateOrganizationDocument, {
      input: { name: "Persisted", adminEmail: "p@example.com" },
    });
    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);
    expect(first.output()).toMatch(/SIGTERM/);

    const second = launch({ DATA_DIR: dataDir });
    const secondUrl = await listening(second);
    const { organization } = await new Api(secondUrl, secrets.operatorApiKey).execute(OrganizationSettingsDocument, {
      organizationId: createOrganization.id,
    });
    expect(organization.name).toBe("Persisted");
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    // All its output is in once it has exited: the key was shown once, by the first start only.
    expect(second.output()).not.toContain(secrets.operatorApiKey);
  });
});
