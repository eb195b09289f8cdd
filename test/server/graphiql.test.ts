// GraphiQL in a real headless browser with no internet: the page renders from local assets, opens the
// walk-through tabs, runs a query, and runs a subscription authenticated by the headers editor.
import { existsSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, it } from "vitest";
import { SetAllocationDocument } from "../../src/client/generated/graphql.ts";
import { seedOrganization } from "../support/factories.ts";
import { OPERATOR_KEY, startServer, type TestServer } from "../support/server.ts";

const CHROMIUM = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].find((path): path is string =>
  Boolean(path && existsSync(path)),
);
if (!CHROMIUM)
  console.warn("SKIPPED test/server/graphiql.test.ts: no chromium installed (apt-get install chromium, or set CHROMIUM_PATH).");

// At the top level, so that startServer's afterAll (stop the server, drop its database) is registered with the file.
const server = (CHROMIUM ? await startServer() : null) as TestServer;

describe.skipIf(!CHROMIUM).sequential(`GraphiQL in headless Chromium${CHROMIUM ? "" : " (skipped: no chromium installed)"}`, () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM!, args: ["--no-sandbox"] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** Opens GraphiQL offline (every request off this server fails) with `query` and the headers editor's Authorization. */
  async function open(query: string, credential: string): Promise<{ page: Page; offSite: string[] }> {
    const page = await browser.newPage();
    const offSite: string[] = [];
    const origin = new URL(server.url).origin;
    // Only off-site requests are intercepted (and fail, as without internet); the page's own load untouched.
    await page.route(
      (url) => url.origin !== origin,
      (route) => {
        offSite.push(route.request().url());
        return route.abort("internetdisconnected");
      },
    );
    await page.addInitScript(
      (headers) => localStorage.setItem("graphiql:headers", headers),
      JSON.stringify({ Authorization: `Bearer ${credential}` }),
    );
    // The page inlines about 9 MB of GraphiQL; on a busy machine parsing it takes a while.
    await page.goto(`${server.url}/graphql?query=${encodeURIComponent(query)}`, { waitUntil: "commit", timeout: 120_000 });
    await page.locator(".graphiql-execute-button").waitFor({ timeout: 120_000 });
    return { page, offSite };
  }

  /** What the result pane shows, its whitespace (the editor renders non-breaking spaces) made plain. */
  // biome-ignore lint/performance/useDomNodeTextContent: a Playwright locator; innerText is the text as rendered.
  const resultText = async (page: Page) => (await page.locator(".result-window").innerText()).replace(/\s+/g, " ");

  it("renders offline with the walk-through tabs and runs a query", async ({ expect }) => {
    const { page, offSite } = await open("query Who { viewer { principal } }", OPERATOR_KEY);
    try {
      // The first tab shows the query of the link (its title follows once edited); the others the walk-through.
      expect((await page.locator(".graphiql-tab").allInnerTexts()).slice(1)).toEqual(["AdminBuysTokens", "MemberWatchesBalance"]);
      await page.locator(".graphiql-execute-button").click();
      await expect.poll(() => resultText(page), { timeout: 30_000 }).toContain('"principal": "OPERATOR"');
      expect(offSite).toEqual([]);
      // The other tabs hold the admin's and the member's steps of the walk-through.
      await page.locator(".graphiql-tab", { hasText: "MemberWatchesBalance" }).click();
      await expect.poll(() => page.locator(".graphiql-query-editor").textContent(), { timeout: 30_000 }).toContain("balanceChanged");
    } finally {
      await page.close();
    }
  }, 300_000);

  it("runs a subscription as the member named by the headers editor and shows each event", async ({ expect }) => {
    const seed = await seedOrganization(server);
    await seed.fund(2_000_000);
    const [memberId] = await seed.addMembers([{ name: "Bob" }]);
    const member = await seed.as(memberId!);
    const { page } = await open("subscription Mine { balanceChanged { kind limit used } }", member.credential!);
    try {
      await page.locator(".graphiql-execute-button").click();
      // The stream sends the current balance of each kind (TRAINING last) once it listens; then the admin changes the
      // member's limit, and the change arrives as an event.
      await page.locator(".graphiql-execute-button[aria-label*='Stop' i]").waitFor({ timeout: 30_000 });
      await expect.poll(() => resultText(page), { timeout: 30_000 }).toContain('"kind": "TRAINING"');
      await seed.admin.execute(SetAllocationDocument, { input: { memberId: memberId!, inference: 777_777 } });
      await expect.poll(() => resultText(page), { timeout: 30_000 }).toContain('"limit": 777777');
      expect(await resultText(page)).not.toContain("errors");
    } finally {
      await page.close();
    }
  }, 300_000);
});
