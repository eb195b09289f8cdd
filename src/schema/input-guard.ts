// One check of every text argument and input field (String and ID, at any depth: characters, and that an ID is one),
// and of every connection's paging arguments, before any resolver runs: bad input of these shapes is BAD_USER_INPUT naming the field, wherever it is
// sent, and a new field is covered without a line of its own. (Our own code: neither Pothos nor yoga validates
// the characters of a string, and a plugin per field would be a copy per field.)
import { parsePrismaCursor } from "@pothos/plugin-prisma";
import { decodeGlobalID } from "@pothos/plugin-relay";
import {
  defaultFieldResolver,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLFieldResolver,
  type GraphQLInputType,
  type GraphQLSchema,
  getNamedType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
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

function holdsText(type: GraphQLInputType, seen = new Set<string>()): boolean {
  const named = getNamedType(type);
  if (named.name === "String" || named.name === "ID") return true;
  if (!isInputObjectType(named) || seen.has(named.name)) return false;
  seen.add(named.name);
  return Object.values(named.getFields()).some((field) => holdsText(field.type, seen));
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

function guard(field: GraphQLField<unknown, unknown>, isConnection: boolean, nodeTypes: ReadonlySet<string>): void {
  const texts = field.args.filter((arg) => holdsText(arg.type));
  if (texts.length === 0 && !isConnection) return;
  const check = (args: Record<string, unknown>) => {
    for (const arg of texts as GraphQLArgument[]) checkValue(args[arg.name], arg.type, arg.name, arg.name, nodeTypes);
    if (isConnection) checkPaging(args);
  };
  const wrap = (resolve: GraphQLFieldResolver<unknown, unknown>): GraphQLFieldResolver<unknown, unknown> =>
    function guarded(source, args, context, info) {
      check(args);
      return resolve(source, args, context, info);
    };
  field.resolve = wrap(field.resolve ?? defaultFieldResolver);
  if (field.subscribe) field.subscribe = wrap(field.subscribe);
}

/** Puts the check in front of every field that takes text or pages a connection; returns the schema. */
export function guardInputs(schema: GraphQLSchema): GraphQLSchema {
  const nodeTypes = new Set(
    Object.values(schema.getTypeMap())
      .filter(isObjectType)
      .map((type) => type.name),
  );
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith("__")) continue;
    for (const field of Object.values(type.getFields())) {
      const isConnection = getNamedType(field.type).name.endsWith("Connection") && field.args.some((arg) => arg.name === "after");
      guard(field, isConnection, nodeTypes);
    }
  }
  return schema;
}
