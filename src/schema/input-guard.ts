// One check, before an operation runs, of every text argument and input field it sends (String and ID, at any depth:
// the characters, and that an ID is one) and of every connection's paging arguments: bad input of these shapes is
// BAD_USER_INPUT naming the field wherever it is sent, and a new field is covered without a line of its own. (Our
// own code: neither Pothos nor yoga checks the characters of a string, and a check per field would be a copy each.)
import { parsePrismaCursor } from "@pothos/plugin-prisma";
import { decodeGlobalID } from "@pothos/plugin-relay";
import {
  type DocumentNode,
  type FieldNode,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLSchema,
  getArgumentValues,
  getNamedType,
  getOperationAST,
  getVariableValues,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  TypeInfo,
  visit,
  visitWithTypeInfo,
} from "graphql";
import { isUuid } from "../auth/authenticate.ts";
import { badInput } from "../errors.ts";

/** Texts a person writes in several lines; everywhere else a line break is refused too. */
const MULTI_LINE = new Set(["reason", "note"]);

/**
 * Characters no text a person reads may hold: C0 and C1 controls and DEL (a line feed only where MULTI_LINE allows
 * it), bidirectional controls and marks (which reorder what is shown: "Trojan Source"), and the invisible ones
 * that make two names look alike (zero-width space, word joiner and the invisible operators, BOM, interlinear
 * annotation). The zero-width joiner and non-joiner stay allowed: Persian, the Indic scripts and emoji sequences
 * need them.
 */
const FORBIDDEN =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
  /[\u0000-\u0009\u000B-\u001F\u007F-\u009F\u061C\u180E\u200B\u200E\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF\uFFF9-\uFFFB]/;
const LINE_FEED = /\n/;
/** With the u flag a surrogate pair is one code point, so this matches only a surrogate standing alone. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Why `text` may not be stored, or null when it may. */
export function textProblem(text: string, multiLine = false): string | null {
  if (LONE_SURROGATE.test(text)) return "holds a lone surrogate (not valid Unicode text)";
  if (FORBIDDEN.test(text) || (!multiLine && LINE_FEED.test(text))) {
    return "holds a control, bidirectional or invisible character";
  }
  return null;
}

const fieldPath = (path: string, key: string | number) => (typeof key === "number" ? `${path}[${key}]` : `${path}.${key}`);

/**
 * Every ID here is a global ID (base64 of "Type:uuid") of one of the schema's object types. One that is not is
 * BAD_USER_INPUT, whoever sends it; one that is well formed but names nothing the caller may see is answered by the
 * resolver exactly as another organisation's (NOT_FOUND, or null from node(id:)).
 */
function isGlobalId(value: string, nodeTypes: ReadonlySet<string>): boolean {
  try {
    const { typename, id } = decodeGlobalID(value);
    return nodeTypes.has(typename) && isUuid(id);
  } catch {
    return false;
  }
}

function checkValue(value: unknown, type: GraphQLInputType, path: string, name: string, nodeTypes: ReadonlySet<string>): void {
  if (value === null || value === undefined) return;
  if (isNonNullType(type)) {
    checkValue(value, type.ofType, path, name, nodeTypes);
    return;
  }
  if (isListType(type)) {
    if (!Array.isArray(value)) return;
    for (const [index, item] of value.entries()) checkValue(item, type.ofType, fieldPath(path, index), name, nodeTypes);
    return;
  }
  if (isInputObjectType(type)) {
    const fields = type.getFields();
    for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
      const field = fields[key];
      if (field) checkValue(inner, field.type, fieldPath(path, key), key, nodeTypes);
    }
    return;
  }
  if (typeof value === "string" && (type.name === "String" || type.name === "ID")) {
    const problem = textProblem(value, MULTI_LINE.has(name));
    if (problem) throw badInput(path, `${path} ${problem}.`);
    if (type.name === "ID" && !isGlobalId(value, nodeTypes)) throw badInput(path, `${path} is not a valid id.`);
  }
}

/** Every connection here pages by a uuid primary key (`cursor: "id"`). */
function checkPaging(args: Record<string, unknown>): void {
  for (const name of ["first", "last"]) {
    const value = args[name];
    if (typeof value === "number" && value < 0) throw badInput(name, `${name} must be 0 or more.`);
  }
  for (const name of ["after", "before"]) {
    const cursor = args[name];
    if (typeof cursor !== "string") continue;
    let id: unknown;
    try {
      id = parsePrismaCursor(cursor);
    } catch {
      id = null;
    }
    if (typeof id !== "string" || !isUuid(id)) throw badInput(name, `${name} is not a cursor this list gave.`);
  }
}

/**
 * Checks every argument of every field the operation selects, at any depth, with the variables as they will be
 * coerced; throws the first problem as BAD_USER_INPUT naming the field. Nested arguments must be checked before
 * execution starts, because a parent's resolver may read them (plugin-prisma plans a connection's page in the
 * parent's query). Variables that do not coerce are left to execution, which refuses them with their own error.
 */
export function checkOperationInputs(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
): void {
  const operation = getOperationAST(document, operationName);
  if (!operation) return;
  const fields = fieldsWithArguments(schema, document, operation);
  if (fields.length === 0) return;
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables ?? {});
  if (coerced.errors) return;
  const nodeTypes = objectTypeNames(schema);
  for (const { field, node, isConnection } of fields) {
    let args: Record<string, unknown>;
    try {
      args = getArgumentValues(field, node, coerced.coerced);
    } catch {
      continue; // execution reports it
    }
    for (const arg of field.args) checkValue(args[arg.name], arg.type, arg.name, arg.name, nodeTypes);
    if (isConnection) checkPaging(args);
  }
}

interface FieldWithArguments {
  field: GraphQLField<unknown, unknown>;
  node: FieldNode;
  isConnection: boolean;
}

/** The selected fields that take arguments, found once per parsed document (yoga caches documents). */
const fieldsOf = new WeakMap<OperationDefinitionNode, FieldWithArguments[]>();
function fieldsWithArguments(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode): FieldWithArguments[] {
  let fields = fieldsOf.get(operation);
  if (fields) return fields;
  const found: FieldWithArguments[] = [];
  const typeInfo = new TypeInfo(schema);
  // Fragments are walked where they are defined; their fields' arguments take the operation's variables too.
  const fragments = document.definitions.filter((definition) => definition.kind === Kind.FRAGMENT_DEFINITION);
  for (const definition of [operation, ...fragments]) {
    visit(
      definition,
      visitWithTypeInfo(typeInfo, {
        Field(node) {
          const field = typeInfo.getFieldDef();
          if (!field || field.args.length === 0) return;
          const isConnection = getNamedType(field.type).name.endsWith("Connection") && field.args.some((arg) => arg.name === "after");
          found.push({ field, node, isConnection });
        },
      }),
    );
  }
  fields = found;
  fieldsOf.set(operation, fields);
  return fields;
}

const objectTypeNamesOf = new WeakMap<GraphQLSchema, ReadonlySet<string>>();
function objectTypeNames(schema: GraphQLSchema): ReadonlySet<string> {
  let names = objectTypeNamesOf.get(schema);
  if (!names) {
    names = new Set(
      Object.values(schema.getTypeMap())
        .filter(isObjectType)
        .map((type) => type.name),
    );
    objectTypeNamesOf.set(schema, names);
  }
  return names;
}
