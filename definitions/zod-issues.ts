import { z } from 'zod';
import type { DefinitionPath, Finding } from './issues';
import { didYouMean } from './suggest';

/** The value at `path` inside `root`, or undefined. */
export function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let v = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, p)) return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

/** A value as a message names it: `"abc"`, `5`, `true`, `null`, `a list`, `a mapping`. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (v !== null && typeof v === 'object') return 'a mapping';
  const json = JSON.stringify(v) ?? String(v);
  return json.length > 50 ? `${json.slice(0, 47)}..."` : json;
}

const TYPE_WORDS: Record<string, string> = { int: 'integer', record: 'object', array: 'list' };
const typeWord = (t: string) => TYPE_WORDS[t] ?? t;

/** The object schemas a path can lead to, through optionals, unions, records, arrays and transforms. */
function objectsAt(schema: z.ZodType, path: readonly (string | number)[]): z.ZodObject[] {
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable || schema instanceof z.ZodDefault) {
    return objectsAt(schema.unwrap() as z.ZodType, path);
  }
  if (schema instanceof z.ZodPipe) return objectsAt(schema.in as z.ZodType, path);
  if (schema instanceof z.ZodLazy) return objectsAt(schema.unwrap() as z.ZodType, path);
  if (schema instanceof z.ZodUnion) return (schema.options as z.ZodType[]).flatMap((o) => objectsAt(o, path));
  if (path.length === 0) return schema instanceof z.ZodObject ? [schema] : [];
  const [head, ...rest] = path;
  if (schema instanceof z.ZodObject) {
    const shape = schema.shape as Record<string, z.ZodType>;
    return typeof head === 'string' && Object.hasOwn(shape, head) ? objectsAt(shape[head], rest) : [];
  }
  if (schema instanceof z.ZodRecord) return objectsAt(schema.valueType as z.ZodType, rest);
  if (schema instanceof z.ZodArray) return objectsAt(schema.element as z.ZodType, rest);
  return [];
}

/** Keys the schema allows in the mapping at `path` (for "did you mean"). */
export function keysAt(schema: z.ZodType, path: readonly (string | number)[]): string[] {
  return [...new Set(objectsAt(schema, path).flatMap((o) => Object.keys(o.shape)))];
}

export interface ZodFindingOptions {
  /** Prefix of every path (where `value` sits in the definition). */
  base?: DefinitionPath;
  stepId?: string;
  /** Leave out issues another check explains better. */
  skip?: (issue: z.core.$ZodIssue, path: DefinitionPath) => boolean;
}

type Issue = z.core.$ZodIssue;

/** True when a union branch failed only because the value has another type altogether. */
const wrongTypeOnly = (branch: Issue[]) => branch.every((i) => i.code === 'invalid_type' && i.path.length === 0);

/**
 * Turns zod issues into findings with readable messages: missing keys, unknown keys with "did you mean", type
 * mismatches naming the value, and the one union branch that nearly matched.
 */
export function zodFindings(
  schema: z.ZodType,
  issues: readonly Issue[],
  value: unknown,
  options: ZodFindingOptions = {},
): Finding[] {
  const base = options.base ?? [];
  const out: Finding[] = [];
  const add = (path: DefinitionPath, message: string, at?: 'key') =>
    out.push({
      path: [...base, ...path],
      message,
      ...(options.stepId ? { stepId: options.stepId } : {}),
      ...(at ? { at } : {}),
    });

  const visit = (issue: Issue, prefix: DefinitionPath) => {
    const path = [...prefix, ...(issue.path as (string | number)[])];
    if (options.skip?.(issue, path)) return;
    const v = valueAt(value, path);
    switch (issue.code) {
      case 'invalid_union': {
        if (v === undefined && path.length > 0) {
          return add(path.slice(0, -1), `missing required key "${String(path.at(-1))}"`, 'key');
        }
        const near = issue.errors.filter((b) => !wrongTypeOnly(b));
        if (near.length) {
          const best = near.reduce((a, b) => (b.length < a.length ? b : a));
          for (const i of best) visit(i, path);
          return;
        }
        const expected = [...new Set(issue.errors.flat().map((i) => typeWord((i as { expected: string }).expected)))];
        return add(path, `expected ${expected.join(' or ')}, got ${describeValue(v)}`);
      }
      case 'invalid_type':
        if (v === undefined && path.length > 0) {
          return add(path.slice(0, -1), `missing required key "${String(path.at(-1))}"`, 'key');
        }
        return add(path, `expected ${typeWord(issue.expected)}, got ${describeValue(v)}`);
      case 'unrecognized_keys': {
        const known = keysAt(schema, path);
        for (const key of issue.keys) {
          if (options.skip?.(issue, [...path, key])) continue;
          add([...path, key], `unknown key "${key}"${didYouMean(key, known)}`, 'key');
        }
        return;
      }
      case 'invalid_key': {
        const key = String(path.at(-1));
        const what = path.length === 2 && path[0] === 'steps' ? 'step id' : path[0] === 'params' ? 'param name' : 'key';
        return add(
          path,
          `invalid ${what} "${key}": use letters, digits, "_" and "-", starting with a letter or "_"`,
          'key',
        );
      }
      case 'invalid_value': {
        const allowed = issue.values.map((x) => JSON.stringify(x));
        const hint = typeof v === 'string' ? didYouMean(v, issue.values.map(String)) : '';
        return add(
          path,
          `expected ${allowed.length === 1 ? allowed[0] : `one of ${allowed.join(', ')}`}, got ${describeValue(v)}${hint}`,
        );
      }
      case 'too_small':
      case 'too_big': {
        const small = issue.code === 'too_small';
        const bound = small
          ? (issue as { minimum: number | bigint }).minimum
          : (issue as { maximum: number | bigint }).maximum;
        const inclusive = (issue as { inclusive?: boolean }).inclusive !== false;
        const op = (small ? '>' : '<') + (inclusive ? '=' : '');
        if (issue.origin === 'array')
          return add(path, `needs ${small ? 'at least' : 'at most'} ${bound} item${bound === 1 ? '' : 's'}`);
        if (issue.origin === 'string' && small && bound === 1) return add(path, 'must not be empty');
        if (issue.origin === 'number' || issue.origin === 'int')
          return add(path, `must be ${op} ${bound}, got ${describeValue(v)}`);
        return add(path, issue.message);
      }
      default:
        return add(path, issue.message);
    }
  };
  for (const issue of issues) visit(issue, []);
  return out;
}
