// DateTime, SafeInt (all token amounts) and Money (exact decimals, serialized as strings).
import { Decimal } from "decimal.js";
import { Kind, type ValueNode } from "graphql";
import { builder } from "../builder.ts";
import { badInput } from "../errors.ts";

/** Money inputs are stored as DECIMAL(20, 8): at most 12 digits before the point and 8 after. */
const MONEY = /^-?\d{1,12}(\.\d{1,8})?$/;

function literalText(ast: ValueNode): string | null {
  return ast.kind === Kind.INT || ast.kind === Kind.FLOAT || ast.kind === Kind.STRING ? ast.value : null;
}

function parseSafeInt(value: unknown): number {
  const number = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== "number" || !Number.isSafeInteger(number)) {
    throw badInput("SafeInt", `Expected an integer within ±(2^53-1), got ${JSON.stringify(value)}.`);
  }
  return number;
}

export function parseMoney(value: unknown): Decimal {
  const text = typeof value === "number" ? String(value) : value;
  if (typeof text !== "string" || !MONEY.test(text.trim())) {
    throw badInput(
      "Money",
      `Expected a decimal amount such as "12.50" (at most 12 digits before the point and 8 after), got ${JSON.stringify(value)}.`,
    );
  }
  return new Decimal(text.trim());
}

/** Money as clients see it: exact, at least two decimals, no trailing zeros beyond them. */
export function formatMoney(value: Decimal | { toString(): string }): string {
  const decimal = new Decimal(value.toString());
  return decimal.decimalPlaces() <= 2 ? decimal.toFixed(2) : decimal.toFixed();
}

builder.scalarType("DateTime", {
  description: "ISO-8601 string, UTC",
  serialize: (value) => new Date(value as Date | string).toISOString(),
  parseValue: (value) => {
    const date = new Date(value as string);
    if (typeof value !== "string" || Number.isNaN(date.getTime())) {
      throw badInput("DateTime", `Expected an ISO-8601 date-time, got ${JSON.stringify(value)}.`);
    }
    return date;
  },
  parseLiteral: (ast) => {
    const date = ast.kind === Kind.STRING ? new Date(ast.value) : null;
    if (!date || Number.isNaN(date.getTime())) throw badInput("DateTime", "Expected an ISO-8601 date-time.");
    return date;
  },
});

builder.scalarType("SafeInt", {
  description: "integer in ±(2^53-1), serialized as a JSON number; all token amounts",
  serialize: (value) => {
    const number = typeof value === "bigint" ? Number(value) : (value as number);
    if (!Number.isSafeInteger(number)) throw new Error(`SafeInt cannot represent ${String(value)}`);
    return number;
  },
  parseValue: parseSafeInt,
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.INT) throw badInput("SafeInt", "Expected an integer within ±(2^53-1).");
    return parseSafeInt(Number(ast.value));
  },
});

builder.scalarType("Money", {
  description: 'exact decimal serialized as a string, e.g. "12.50"; never a float',
  serialize: (value) => formatMoney(value as Decimal),
  parseValue: parseMoney,
  parseLiteral: (ast) => parseMoney(literalText(ast)),
});
