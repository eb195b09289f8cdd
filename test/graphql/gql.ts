/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  mutation CreateOrganization($input: CreateOrganizationInput!) {\n    createOrganization(input: $input) { id name currency planBudget overageLimit cycleAnchorDay cycleStart cycleEnd automaticFallback }\n  }\n": typeof types.CreateOrganizationDocument,
    "\n  query OrganizationById($id: ID!) {\n    organization(id: $id) { id name }\n  }\n": typeof types.OrganizationByIdDocument,
    "\n      mutation SetPlan($id: ID!, $budget: Money!, $overage: Money!, $anchor: Int) {\n        setPlan(organizationId: $id, planBudget: $budget, overageLimit: $overage, cycleAnchorDay: $anchor) { planBudget overageLimit cycleAnchorDay }\n      }\n    ": typeof types.SetPlanDocument,
    "query PlanOf($id: ID!) { organization(id: $id) { planBudget cycleAnchorDay } }": typeof types.PlanOfDocument,
};
const documents: Documents = {
    "\n  mutation CreateOrganization($input: CreateOrganizationInput!) {\n    createOrganization(input: $input) { id name currency planBudget overageLimit cycleAnchorDay cycleStart cycleEnd automaticFallback }\n  }\n": types.CreateOrganizationDocument,
    "\n  query OrganizationById($id: ID!) {\n    organization(id: $id) { id name }\n  }\n": types.OrganizationByIdDocument,
    "\n      mutation SetPlan($id: ID!, $budget: Money!, $overage: Money!, $anchor: Int) {\n        setPlan(organizationId: $id, planBudget: $budget, overageLimit: $overage, cycleAnchorDay: $anchor) { planBudget overageLimit cycleAnchorDay }\n      }\n    ": types.SetPlanDocument,
    "query PlanOf($id: ID!) { organization(id: $id) { planBudget cycleAnchorDay } }": types.PlanOfDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateOrganization($input: CreateOrganizationInput!) {\n    createOrganization(input: $input) { id name currency planBudget overageLimit cycleAnchorDay cycleStart cycleEnd automaticFallback }\n  }\n"): (typeof documents)["\n  mutation CreateOrganization($input: CreateOrganizationInput!) {\n    createOrganization(input: $input) { id name currency planBudget overageLimit cycleAnchorDay cycleStart cycleEnd automaticFallback }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query OrganizationById($id: ID!) {\n    organization(id: $id) { id name }\n  }\n"): (typeof documents)["\n  query OrganizationById($id: ID!) {\n    organization(id: $id) { id name }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n      mutation SetPlan($id: ID!, $budget: Money!, $overage: Money!, $anchor: Int) {\n        setPlan(organizationId: $id, planBudget: $budget, overageLimit: $overage, cycleAnchorDay: $anchor) { planBudget overageLimit cycleAnchorDay }\n      }\n    "): (typeof documents)["\n      mutation SetPlan($id: ID!, $budget: Money!, $overage: Money!, $anchor: Int) {\n        setPlan(organizationId: $id, planBudget: $budget, overageLimit: $overage, cycleAnchorDay: $anchor) { planBudget overageLimit cycleAnchorDay }\n      }\n    "];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query PlanOf($id: ID!) { organization(id: $id) { planBudget cycleAnchorDay } }"): (typeof documents)["query PlanOf($id: ID!) { organization(id: $id) { planBudget cycleAnchorDay } }"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;