import {
  collectReferences,
  evaluate,
  ExpressionError,
  isTruthy,
  parseExpression,
  toText,
  type ExpressionContext,
  type ExpressionReferences,
  type ParsedExpression,
} from './expressions';

/** A string split into literal text and `${{ }}` expressions. */
export interface ParsedTemplate {
  parts: (string | ParsedExpression)[];
  /** The string is exactly one expression (give or take whitespace): it evaluates to a typed value. */
  whole: boolean;
}

/** Whether a string contains `${{`. */
export function containsExpression(value: unknown): value is string {
  return typeof value === 'string' && value.includes('${{');
}

/** Whether a value holds an expression anywhere inside (strings, arrays, objects). */
export function hasExpressionDeep(value: unknown): boolean {
  if (typeof value === 'string') return containsExpression(value);
  if (Array.isArray(value)) return value.some(hasExpressionDeep);
  if (value !== null && typeof value === 'object') return Object.values(value).some(hasExpressionDeep);
  return false;
}

/** End of the expression that starts at `from` (just after `${{`): the first `}}` outside a quoted string. */
function closingBraces(s: string, from: number): number {
  let quote: string | undefined;
  for (let i = from; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === '}' && s[i + 1] === '}') {
      return i;
    }
  }
  return -1;
}

const templateCache = new Map<string, ParsedTemplate>();
const TEMPLATE_CACHE_LIMIT = 2000;

/**
 * Splits a string into text and expressions.
 *
 * @throws ExpressionError for an unterminated `${{` or an expression that does not parse.
 */
export function parseTemplate(s: string): ParsedTemplate {
  const cached = templateCache.get(s);
  if (cached) return cached;
  const parts: (string | ParsedExpression)[] = [];
  let at = 0;
  for (;;) {
    const open = s.indexOf('${{', at);
    if (open < 0) break;
    const close = closingBraces(s, open + 3);
    if (close < 0) throw new ExpressionError('missing "}}" to close "${{"', s.slice(open + 3).trim(), 1);
    if (open > at) parts.push(s.slice(at, open));
    parts.push(parseExpression(s.slice(open + 3, close)));
    at = close + 2;
  }
  if (at < s.length) parts.push(s.slice(at));
  const expressions = parts.filter((p) => typeof p !== 'string');
  const whole = expressions.length === 1 && parts.every((p) => typeof p !== 'string' || p.trim() === '');
  const parsed = { parts, whole };
  if (templateCache.size >= TEMPLATE_CACHE_LIMIT) templateCache.clear();
  templateCache.set(s, parsed);
  return parsed;
}

/**
 * Evaluates one string: exactly one `${{ }}` gives its typed value; otherwise each expression is interpolated as
 * text (`null` as '', objects as JSON). A string without expressions comes back unchanged.
 *
 * @example
 * evaluateString('${{ params.n * 2 }}', { params: { n: 2 } }); // 4
 * evaluateString('n=${{ params.n }}', { params: { n: 2 } }); // 'n=2'
 */
export function evaluateString(s: string, context: ExpressionContext): unknown {
  if (!containsExpression(s)) return s;
  const t = parseTemplate(s);
  if (t.whole) return evaluate(t.parts.find((p) => typeof p !== 'string') as ParsedExpression, context);
  return t.parts.map((p) => (typeof p === 'string' ? p : toText(evaluate(p, context)))).join('');
}

/**
 * Resolves every `${{ }}` in a value, deeply: strings are evaluated (see {@link evaluateString}), arrays and objects
 * are walked and copied, anything else is returned as is. Object keys are never templated.
 *
 * @throws ExpressionError naming the expression and column; `path` says where in `value` it was.
 * @example
 * evaluateTemplate({ run: ['train.py', '--rows', '${{ steps.prepare.outputs.rows }}'] }, context);
 */
export function evaluateTemplate(value: unknown, context: ExpressionContext): unknown {
  if (typeof value === 'string') return evaluateString(value, context);
  if (Array.isArray(value)) return value.map((v) => evaluateTemplate(v, context));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = evaluateTemplate(v, context);
    return out;
  }
  return value;
}

/**
 * Evaluates a step's `if`: a boolean, or a string holding an expression (the schema wraps a bare `if: a > b` in
 * `${{ }}`). `undefined` (no condition) is true.
 */
export function evaluateCondition(condition: unknown, context: ExpressionContext): boolean {
  if (condition === undefined) return true;
  return isTruthy(evaluateTemplate(condition, context));
}

/** What a value's expressions read, deeply, for static checks. Expressions that do not parse are skipped. */
export function findReferences(value: unknown): ExpressionReferences {
  const refs: ExpressionReferences = { params: new Set(), steps: new Set(), usesItem: false, usesRun: false };
  const walk = (v: unknown): void => {
    if (typeof v === 'string') {
      if (!containsExpression(v)) return;
      let t: ParsedTemplate;
      try {
        t = parseTemplate(v);
      } catch {
        return; // reported by checkExpressionsParse
      }
      for (const p of t.parts) if (typeof p !== 'string') collectReferences(p, refs);
    } else if (Array.isArray(v)) {
      v.forEach(walk);
    } else if (v !== null && typeof v === 'object') {
      Object.values(v).forEach(walk);
    }
  };
  walk(value);
  return refs;
}
