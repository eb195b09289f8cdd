// GraphiQL as a newcomer meets it: its assets come from the installed @graphql-yoga/render-graphiql (no CDN, so it
// works offline), subscriptions go over SSE (which carries the headers editor's Authorization; a browser's WebSocket
// cannot send headers), and the walk-through opens as tabs for the operator, an admin and a member.
import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import type { GraphiQLOptions } from "graphql-yoga";

const OPERATOR = `# 1. As the platform operator (the key is printed at the first start and kept in .data/secrets.json):
# create an organisation with its first admin, then issue the admin an access token for the next tab.
mutation OperatorCreatesOrganization {
  createOrganization(input: { name: "Acme", adminEmail: "ada@acme.test", planBudget: "500.00" }) {
    id
    name
    members(first: 1) { edges { node { id email role } } }
  }
}

mutation OperatorIssuesToken($memberId: ID!) {
  issueAccessToken(memberId: $memberId, ttlSeconds: 86400)
}
`;

const ADMIN = `# 2. As the admin (paste the token issued in the first tab): buy tokens, add a member, see where tokens are.
mutation AdminBuysTokens {
  inference: purchaseTokens(tokens: 10000000, kind: INFERENCE) { tokens price discountPercent }
  training: purchaseTokens(tokens: 10000000, kind: TRAINING) { tokens price }
}

mutation AdminAddsMember {
  addMembers(members: [{ email: "bob@acme.test", name: "Bob", teamName: "Research" }]) { id email inference { limit } }
}

query AdminSeesAllocation {
  organization { allocationStatus { purchased allocated used unallocated activePreset } }
  pendingTokenRequestCount
}

mutation AdminApprovesAllPending {
  approveTokenRequests(allPending: true) { succeeded failed outcomes { ok errorCode request { amount status } } }
}
`;

const MEMBER = `# 3. As a member (a token the operator issued for Bob): watch the balance live, then ask for more.
# Run the subscription, then the admin's AdminApprovesAllPending in the other tab, and watch the limit move.
subscription MemberWatchesBalance {
  balanceChanged { kind limit used remaining reserved }
}

mutation MemberAsksForMore {
  requestTokens(amount: 250000, reason: "Quarter-end reports") { id status balanceAtRequest }
}

query MemberSeesSelf {
  viewer { principal member { email inference { limit used remaining } } }
}
`;

const bearer = (who: string) => JSON.stringify({ Authorization: `Bearer <${who}>` }, null, 2);

export const graphiqlOptions: GraphiQLOptions = {
  title: "Tokenwarden",
  subscriptionsProtocol: "SSE",
  defaultTabs: [
    { query: OPERATOR, headers: bearer("operator API key"), variables: JSON.stringify({ memberId: "" }) },
    { query: ADMIN, headers: bearer("admin access token") },
    { query: MEMBER, headers: bearer("member access token") },
  ],
};

const pages = new Map<string, string>();

/** The page is about 9 MB (GraphiQL and its editor inlined): built once per set of options, not per request. */
export function renderGraphiQLPage(options: GraphiQLOptions): string {
  const key = JSON.stringify(options);
  let page = pages.get(key);
  if (page === undefined) {
    page = renderGraphiQL(options);
    pages.set(key, page);
  }
  return page;
}
