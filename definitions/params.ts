import { deepEqual } from './expressions';
import type { ParamSpec } from './schema';
import { didYouMean } from './suggest';

/** A value in a message: JSON, shortened. */
function show(v: unknown): string {
  const json = v === undefined ? 'nothing' : (JSON.stringify(v) ?? String(v));
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

function hasType(spec: ParamSpec, v: unknown): boolean {
  switch (spec.type) {
    case 'string':
      return typeof v === 'string';
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'array':
      return Array.isArray(v);
    case 'object':
      return v !== null && typeof v === 'object' && !Array.isArray(v);
  }
}

/**
 * Why a typed value does not fit a param's spec (type, enum, minimum, maximum), or undefined if it fits.
 *
 * @example
 * checkParamValue({ type: 'number', maximum: 1 }, 1.5); // 'must be <= 1, got 1.5'
 */
export function checkParamValue(spec: ParamSpec, value: unknown): string | undefined {
  if (!hasType(spec, value)) return `expected ${spec.type}, got ${show(value)}`;
  if (spec.enum && !spec.enum.some((e) => deepEqual(e, value))) {
    return `expected one of ${spec.enum.map(show).join(', ')}, got ${show(value)}`;
  }
  if (typeof value === 'number') {
    if (spec.minimum !== undefined && value < spec.minimum) return `must be >= ${spec.minimum}, got ${value}`;
    if (spec.maximum !== undefined && value > spec.maximum) return `must be <= ${spec.maximum}, got ${value}`;
  }
  return undefined;
}

const NUMBER_TEXT = /^\s*-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;

/**
 * Turns text from a command line or form into the param's type: `'0.7'` → 0.7 for numbers, `'true'` → true for
 * booleans, JSON for arrays and objects. Values that are not strings, and strings for string params, pass as they are.
 */
export function coerceParamValue(spec: ParamSpec, value: unknown): unknown {
  if (typeof value !== 'string' || spec.type === 'string') return value;
  switch (spec.type) {
    case 'number':
    case 'integer':
      return NUMBER_TEXT.test(value) ? Number(value) : value;
    case 'boolean':
      return value === 'true' ? true : value === 'false' ? false : value;
    default:
      try {
        return JSON.parse(value) as unknown;
      } catch {
        return value;
      }
  }
}

function cloneJson<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/** Params of a run: the given values typed and checked, defaults applied. */
export interface ResolvedParams {
  ok: boolean;
  /** Every param of the definition that has a value. Complete only when `ok`. */
  params: Record<string, unknown>;
  /** One message per problem, e.g. `param "minAuc": expected number, got "abc"`. */
  issues: string[];
}

/**
 * Checks the params given to a run against the definition and applies defaults. Reports every problem at once:
 * unknown params, missing required ones, wrong types, values outside `enum`, `minimum` or `maximum`. Strings are
 * accepted for other types as a command line gives them (see {@link coerceParamValue}).
 *
 * @example
 * resolveParams(def, { minAuc: '0.8' }); // { ok: true, params: { minAuc: 0.8, window: 'jan' }, issues: [] }
 */
export function resolveParams(
  def: { params?: Record<string, ParamSpec> },
  given: Record<string, unknown> = {},
): ResolvedParams {
  const specs = def.params ?? {};
  const names = Object.keys(specs);
  const params: Record<string, unknown> = {};
  const issues: string[] = [];
  for (const [name, value] of Object.entries(given)) {
    if (value !== undefined && !Object.hasOwn(specs, name)) {
      const known = names.length ? `; known: ${names.join(', ')}` : '; this pipeline takes no params';
      issues.push(`param "${name}": unknown param${didYouMean(name, names)}${known}`);
    }
  }
  for (const [name, spec] of Object.entries(specs)) {
    const raw = Object.hasOwn(given, name) ? given[name] : undefined;
    if (raw === undefined) {
      if (spec.default === undefined) issues.push(`param "${name}": required (${spec.type}) but not given`);
      else params[name] = cloneJson(spec.default);
      continue;
    }
    const value = coerceParamValue(spec, raw);
    const problem = checkParamValue(spec, value);
    if (problem) issues.push(`param "${name}": ${problem}`);
    else params[name] = value;
  }
  return { ok: issues.length === 0, params, issues };
}
