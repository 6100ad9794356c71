import { didYouMean } from './suggest';

/**
 * The expression language inside `${{ }}`: a small, safe language (no eval, no prototype access) in the spirit of
 * GitHub Actions expressions.
 *
 * - literals: numbers, `'single'` or `"double"` quoted strings, `true`, `false`, `null`
 * - names: `params.x`, `steps.<id>.outputs.<name>`, `steps.<id>.status`, `run.id`, `run.attempt`, `run.startTime`,
 *   `item` (inside forEach); member access `a.b` and index `a[0]`, `a['k']`. After a dot a name may contain `-`
 *   (`steps.my-step.outputs`), so subtraction needs spaces: `params.a - 1`.
 * - operators, loosest first: `a ? b : c`, `||`, `&&`, `== !=`, `< <= > >=`, `+ -`, `* / %`, unary `! -`
 * - functions: see {@link FUNCTIONS}
 *
 * Reading a missing property gives `null`; `steps.X` for a step the context does not know is an error.
 */

/** Where a node starts in the expression source (0-based offset). */
interface At {
  pos: number;
}

export type ExpressionNode =
  | (At & { kind: 'literal'; value: string | number | boolean | null })
  | (At & { kind: 'name'; name: RootName })
  | (At & { kind: 'member'; object: ExpressionNode; property: string })
  | (At & { kind: 'index'; object: ExpressionNode; index: ExpressionNode })
  | (At & { kind: 'unary'; op: '!' | '-'; operand: ExpressionNode })
  | (At & { kind: 'binary'; op: BinaryOp; left: ExpressionNode; right: ExpressionNode })
  | (At & { kind: 'logical'; op: '&&' | '||'; left: ExpressionNode; right: ExpressionNode })
  | (At & { kind: 'conditional'; test: ExpressionNode; consequent: ExpressionNode; alternate: ExpressionNode })
  | (At & { kind: 'call'; name: string; args: ExpressionNode[] });

type BinaryOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*' | '/' | '%';

/** A parsed expression: its source (what is between `${{` and `}}`, trimmed) and syntax tree. */
export interface ParsedExpression {
  source: string;
  ast: ExpressionNode;
}

/** The names an expression can start with. */
export const ROOT_NAMES = ['params', 'steps', 'run', 'item'] as const;
export type RootName = (typeof ROOT_NAMES)[number];
/** Properties of `run`. */
export const RUN_PROPERTIES = ['id', 'attempt', 'startTime'] as const;
/** Properties of `steps.<id>`. */
export const STEP_PROPERTIES = ['outputs', 'status'] as const;

/**
 * What expressions read. Every field is optional; `item` is only defined inside a forEach step, and `steps` must
 * hold an entry for every step of the pipeline (`{ outputs, status }`).
 */
export interface ExpressionContext {
  params?: unknown;
  steps?: unknown;
  run?: unknown;
  item?: unknown;
  [key: string]: unknown;
}

/** A syntax or evaluation error, naming the expression and the column (1-based) where it went wrong. */
export class ExpressionError extends Error {
  override readonly name = 'ExpressionError';
  constructor(
    /** What went wrong, without the location. */
    readonly reason: string,
    /** The expression source (without `${{ }}`). */
    readonly expression: string,
    /** 1-based column in {@link expression}. */
    readonly column: number,
  ) {
    super(`${reason} at column ${column} of \${{ ${expression} }}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Tokens

type Token =
  | { type: 'number'; value: number; pos: number; text: string }
  | { type: 'string'; value: string; pos: number; text: string }
  | { type: 'ident'; value: string; pos: number; text: string }
  | { type: 'punct'; value: string; pos: number; text: string }
  | { type: 'eof'; value: ''; pos: number; text: string };

const PUNCT = [
  '&&',
  '||',
  '==',
  '!=',
  '<=',
  '>=',
  '<',
  '>',
  '!',
  '+',
  '-',
  '*',
  '/',
  '%',
  '?',
  ':',
  '.',
  '[',
  ']',
  '(',
  ')',
  ',',
];
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' };

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  const fail = (reason: string, pos: number): never => {
    throw new ExpressionError(reason, src, pos + 1);
  };
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? '') && tokens.at(-1)?.value !== '.')) {
      const m = /^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/.exec(src.slice(i))!;
      i += m[0].length;
      if (/[A-Za-z_]/.test(src[i] ?? '')) fail(`invalid number "${src.slice(start, i + 1)}"`, start);
      tokens.push({ type: 'number', value: Number(m[0]), pos: start, text: m[0] });
      continue;
    }
    if (c === "'" || c === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= src.length) fail('unterminated string', start);
        const d = src[i];
        if (d === c) {
          // GitHub style: '' inside a single-quoted string is one quote.
          if (c === "'" && src[i + 1] === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (d === '\\') {
          const e = src[i + 1];
          if (e === undefined || !(e in ESCAPES)) fail(`unknown escape "\\${e ?? ''}" in string`, i);
          value += ESCAPES[e];
          i += 2;
          continue;
        }
        value += d;
        i++;
      }
      tokens.push({ type: 'string', value, pos: start, text: src.slice(start, i) });
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      // After a dot, names may contain '-' as step ids do (steps.my-step.outputs).
      const afterDot = tokens.at(-1)?.type === 'punct' && tokens.at(-1)?.value === '.';
      const re = afterDot ? /^[A-Za-z_][A-Za-z0-9_-]*/ : /^[A-Za-z_][A-Za-z0-9_]*/;
      const m = re.exec(src.slice(i))!;
      i += m[0].length;
      tokens.push({ type: 'ident', value: m[0], pos: start, text: m[0] });
      continue;
    }
    const p = PUNCT.find((q) => src.startsWith(q, i));
    if (!p) {
      if (c === '=') fail('unexpected "=": use "==" to compare', start);
      if (c === '&' || c === '|') fail(`unexpected "${c}": use "${c}${c}"`, start);
      fail(`unexpected character "${c}"`, start);
    }
    i += p!.length;
    tokens.push({ type: 'punct', value: p!, pos: start, text: p! });
  }
  tokens.push({ type: 'eof', value: '', pos: src.length, text: 'end of expression' });
  return tokens;
}

// ---------------------------------------------------------------------------------------------------------------
// Parser: recursive descent, one function per precedence level.

/** Functions callable in expressions: name → [min args, max args]. */
export const FUNCTIONS: Record<string, readonly [number, number]> = {
  len: [1, 1],
  contains: [2, 2],
  startsWith: [2, 2],
  endsWith: [2, 2],
  format: [1, Infinity],
  join: [1, 2],
  toJSON: [1, 1],
  fromJSON: [1, 1],
  min: [1, Infinity],
  max: [1, Infinity],
  round: [1, 2],
  range: [1, 2],
  default: [2, 2],
};

class Parser {
  private i = 0;
  constructor(
    private readonly src: string,
    private readonly tokens: Token[],
  ) {}

  private get tok(): Token {
    return this.tokens[this.i];
  }

  private fail(reason: string, pos = this.tok.pos): never {
    throw new ExpressionError(reason, this.src, pos + 1);
  }

  private unexpected(): never {
    const t = this.tok;
    return this.fail(t.type === 'eof' ? 'unexpected end of expression' : `unexpected "${t.text}"`);
  }

  private isPunct(...values: string[]): boolean {
    return this.tok.type === 'punct' && values.includes(this.tok.value);
  }

  private expect(value: string): Token {
    if (!this.isPunct(value)) {
      const t = this.tok;
      this.fail(`expected "${value}" but found ${t.type === 'eof' ? 'the end' : `"${t.text}"`}`);
    }
    return this.tokens[this.i++];
  }

  parse(): ExpressionNode {
    if (this.tok.type === 'eof') this.fail('empty expression');
    const node = this.ternary();
    // (re-read: the getter moved on, whatever narrowing says)
    if ((this.tok as Token).type !== 'eof') this.unexpected();
    return node;
  }

  private ternary(): ExpressionNode {
    const test = this.or();
    if (!this.isPunct('?')) return test;
    this.i++;
    const consequent = this.ternary();
    this.expect(':');
    const alternate = this.ternary();
    return { kind: 'conditional', test, consequent, alternate, pos: test.pos };
  }

  private or(): ExpressionNode {
    let left = this.and();
    while (this.isPunct('||')) {
      const pos = this.tokens[this.i++].pos;
      left = { kind: 'logical', op: '||', left, right: this.and(), pos };
    }
    return left;
  }

  private and(): ExpressionNode {
    let left = this.binary(0);
    while (this.isPunct('&&')) {
      const pos = this.tokens[this.i++].pos;
      left = { kind: 'logical', op: '&&', left, right: this.binary(0), pos };
    }
    return left;
  }

  private static readonly LEVELS: BinaryOp[][] = [
    ['==', '!='],
    ['<', '<=', '>', '>='],
    ['+', '-'],
    ['*', '/', '%'],
  ];

  private binary(level: number): ExpressionNode {
    if (level === Parser.LEVELS.length) return this.unary();
    let left = this.binary(level + 1);
    while (this.isPunct(...Parser.LEVELS[level])) {
      const t = this.tokens[this.i++];
      left = { kind: 'binary', op: t.value as BinaryOp, left, right: this.binary(level + 1), pos: t.pos };
    }
    return left;
  }

  private unary(): ExpressionNode {
    if (this.isPunct('!', '-')) {
      const t = this.tokens[this.i++];
      return { kind: 'unary', op: t.value as '!' | '-', operand: this.unary(), pos: t.pos };
    }
    return this.postfix();
  }

  private postfix(): ExpressionNode {
    let node = this.primary();
    for (;;) {
      if (this.isPunct('.')) {
        this.i++;
        const t = this.tok;
        if (t.type !== 'ident') this.fail(`expected a property name after "."`);
        this.i++;
        node = { kind: 'member', object: node, property: t.value, pos: t.pos };
      } else if (this.isPunct('[')) {
        const pos = this.tokens[this.i++].pos;
        const index = this.ternary();
        this.expect(']');
        node = { kind: 'index', object: node, index, pos };
      } else {
        return node;
      }
    }
  }

  private primary(): ExpressionNode {
    const t = this.tok;
    if (t.type === 'number' || t.type === 'string') {
      this.i++;
      return { kind: 'literal', value: t.value, pos: t.pos };
    }
    if (t.type === 'ident') {
      this.i++;
      if (t.value === 'true' || t.value === 'false') return { kind: 'literal', value: t.value === 'true', pos: t.pos };
      if (t.value === 'null') return { kind: 'literal', value: null, pos: t.pos };
      if (this.isPunct('(')) return this.call({ value: t.value, pos: t.pos });
      if ((ROOT_NAMES as readonly string[]).includes(t.value)) {
        return { kind: 'name', name: t.value as RootName, pos: t.pos };
      }
      const known = [...ROOT_NAMES, 'true', 'false', 'null'];
      return this.fail(
        `unknown name "${t.value}"${didYouMean(t.value, known)}; expressions read ${ROOT_NAMES.join(', ')}`,
        t.pos,
      );
    }
    if (this.isPunct('(')) {
      this.i++;
      const inner = this.ternary();
      this.expect(')');
      return inner;
    }
    return this.unexpected();
  }

  private call(name: { value: string; pos: number }): ExpressionNode {
    const arity = Object.hasOwn(FUNCTIONS, name.value) ? FUNCTIONS[name.value] : undefined;
    if (!arity) {
      this.fail(`unknown function "${name.value}"${didYouMean(name.value, Object.keys(FUNCTIONS))}`, name.pos);
    }
    this.expect('(');
    const args: ExpressionNode[] = [];
    if (!this.isPunct(')')) {
      do {
        args.push(this.ternary());
      } while (this.isPunct(',') && ++this.i);
    }
    this.expect(')');
    const [min, max] = arity!;
    if (args.length < min || args.length > max) {
      const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
      const plural = (max === Infinity ? min : max) === 1 ? '' : 's';
      this.fail(`${name.value}() takes ${want} argument${plural}, got ${args.length}`, name.pos);
    }
    return { kind: 'call', name: name.value, args, pos: name.pos };
  }
}

/** The key of `a.b` or `a['b']`, when it is known without evaluating anything. */
function staticKey(node: ExpressionNode): { object: ExpressionNode; key: string | number } | undefined {
  if (node.kind === 'member') return { object: node.object, key: node.property };
  if (node.kind === 'index' && node.index.kind === 'literal') {
    const v = node.index.value;
    if (typeof v === 'string' || typeof v === 'number') return { object: node.object, key: v };
  }
  return undefined;
}

function visit(node: ExpressionNode, fn: (n: ExpressionNode) => void): void {
  fn(node);
  switch (node.kind) {
    case 'member':
      return visit(node.object, fn);
    case 'index':
      visit(node.object, fn);
      return visit(node.index, fn);
    case 'unary':
      return visit(node.operand, fn);
    case 'binary':
    case 'logical':
      visit(node.left, fn);
      return visit(node.right, fn);
    case 'conditional':
      visit(node.test, fn);
      visit(node.consequent, fn);
      return visit(node.alternate, fn);
    case 'call':
      return node.args.forEach((a) => visit(a, fn));
  }
}

/** Typos that parse but can never work: `run.ids`, `steps.train.output`. */
function checkKnownProperties(src: string, ast: ExpressionNode): void {
  visit(ast, (node) => {
    const access = staticKey(node);
    if (!access || typeof access.key !== 'string') return;
    const fail = (known: readonly string[], what: string) => {
      if (!known.includes(access.key as string)) {
        const reason = `unknown property "${access.key}" of ${what}${didYouMean(access.key as string, known)}`;
        throw new ExpressionError(reason, src, node.pos + 1);
      }
    };
    if (access.object.kind === 'name' && access.object.name === 'run') fail(RUN_PROPERTIES, 'run');
    const parent = staticKey(access.object);
    if (parent && parent.object.kind === 'name' && parent.object.name === 'steps') {
      fail(STEP_PROPERTIES, `a step (steps.${parent.key})`);
    }
  });
}

const parseCache = new Map<string, ParsedExpression>();
const PARSE_CACHE_LIMIT = 2000;

/**
 * Parses an expression (the text between `${{` and `}}`). Results are cached.
 *
 * @throws ExpressionError for a syntax error, with its column.
 * @example
 * const e = parseExpression('steps.train.outputs.auc >= params.minAuc');
 * evaluate(e, { params: { minAuc: 0.7 }, steps: { train: { outputs: { auc: 0.8 } } } }); // true
 */
export function parseExpression(source: string): ParsedExpression {
  const src = source.trim();
  const cached = parseCache.get(src);
  if (cached) return cached;
  const ast = new Parser(src, tokenize(src)).parse();
  checkKnownProperties(src, ast);
  const parsed = { source: src, ast };
  if (parseCache.size >= PARSE_CACHE_LIMIT) parseCache.clear();
  parseCache.set(src, parsed);
  return parsed;
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation

/** The expression type of a value, for messages: `null`, `boolean`, `number`, `string`, `array` or `object`. */
export function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Truthiness as in JavaScript: `false`, `0`, `''`, `null` and `NaN` are false; everything else is true. */
export function isTruthy(v: unknown): boolean {
  return Boolean(v);
}

/** How a value reads inside a string: `null` is empty, objects and arrays are JSON. */
export function toText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** Structural equality of JSON values. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === undefined || b === undefined) return (a ?? null) === (b ?? null);
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  return (
    ka.length === kb.length && ka.every((k) => Object.hasOwn(b as object, k) && deepEqual((a as any)[k], (b as any)[k]))
  );
}

function show(v: unknown): string {
  const json = JSON.stringify(v ?? null) ?? String(v);
  return json.length > 40 ? `${json.slice(0, 37)}...` : json;
}

/** Reads an own property only (never the prototype); anything missing is null. */
function read(object: unknown, key: unknown): unknown {
  if (object === null || object === undefined) return null;
  if (Array.isArray(object)) {
    return typeof key === 'number' && Number.isInteger(key) && key >= 0 && key < object.length
      ? (object[key] ?? null)
      : null;
  }
  if (typeof object === 'object' && (typeof key === 'string' || typeof key === 'number')) {
    return Object.hasOwn(object, key) ? ((object as Record<string, unknown>)[key] ?? null) : null;
  }
  return null;
}

const RANGE_LIMIT = 100_000;

type Fail = (reason: string) => never;

const IMPLEMENTATIONS: Record<string, (args: unknown[], fail: Fail) => unknown> = {
  len([x], fail) {
    if (x === null || x === undefined) return 0;
    if (typeof x === 'string' || Array.isArray(x)) return x.length;
    if (typeof x === 'object') return Object.keys(x).length;
    return fail(`len() expects a string, array or object, got ${typeName(x)}`);
  },
  contains([haystack, needle], fail) {
    if (haystack === null || haystack === undefined) return false;
    if (Array.isArray(haystack)) return haystack.some((x) => deepEqual(x, needle));
    if (typeof haystack === 'string') return haystack.includes(toText(needle));
    return fail(`contains() expects a string or an array, got ${typeName(haystack)}`);
  },
  startsWith([s, prefix], fail) {
    if (s === null || s === undefined) return false;
    if (typeof s !== 'string') return fail(`startsWith() expects a string, got ${typeName(s)}`);
    return s.startsWith(toText(prefix));
  },
  endsWith([s, suffix], fail) {
    if (s === null || s === undefined) return false;
    if (typeof s !== 'string') return fail(`endsWith() expects a string, got ${typeName(s)}`);
    return s.endsWith(toText(suffix));
  },
  format([fmt, ...args], fail) {
    if (typeof fmt !== 'string') return fail(`format() expects a format string first, got ${typeName(fmt)}`);
    return fmt.replace(/\{\{|\}\}|\{(\d+)\}/g, (m, n: string | undefined) => {
      if (m === '{{') return '{';
      if (m === '}}') return '}';
      const i = Number(n);
      if (i >= args.length) fail(`format(): {${i}} has no argument (got ${args.length})`);
      return toText(args[i]);
    });
  },
  join([list, sep], fail) {
    const separator = sep === undefined ? ',' : toText(sep);
    if (list === null || list === undefined) return '';
    if (typeof list === 'string') return list;
    if (!Array.isArray(list)) return fail(`join() expects an array, got ${typeName(list)}`);
    return list.map(toText).join(separator);
  },
  toJSON([x]) {
    return JSON.stringify(x ?? null);
  },
  fromJSON([s], fail) {
    if (typeof s !== 'string') return fail(`fromJSON() expects a string, got ${typeName(s)}`);
    try {
      return JSON.parse(s) as unknown;
    } catch (err) {
      return fail(`fromJSON(): ${(err as Error).message}`);
    }
  },
  min: (args, fail) => extreme('min', args, fail),
  max: (args, fail) => extreme('max', args, fail),
  round([x, digits], fail) {
    if (typeof x !== 'number') return fail(`round() expects a number, got ${typeName(x)}`);
    const d = digits ?? 0;
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0 || d > 15) {
      return fail(`round(): digits must be an integer from 0 to 15, got ${show(d)}`);
    }
    const f = 10 ** d;
    return Math.round(x * f) / f;
  },
  range(args, fail) {
    const [a, b] = args.length === 1 ? [0, args[0]] : args;
    if (typeof a !== 'number' || typeof b !== 'number' || !Number.isInteger(a) || !Number.isInteger(b)) {
      return fail(`range() expects integers, got ${args.map(show).join(', ')}`);
    }
    if (b - a > RANGE_LIMIT) return fail(`range() is limited to ${RANGE_LIMIT} items, asked for ${b - a}`);
    return Array.from({ length: Math.max(0, b - a) }, (_, i) => a + i);
  },
  default([x, fallback]) {
    return x === null || x === undefined ? fallback : x;
  },
};

function extreme(name: 'min' | 'max', args: unknown[], fail: Fail): unknown {
  const values = args.length === 1 && Array.isArray(args[0]) ? args[0] : args;
  if (values.length === 0) return null;
  for (const v of values) if (typeof v !== 'number') fail(`${name}() expects numbers, got ${typeName(v)}`);
  return Math[name](...(values as number[]));
}

function arithmetic(op: BinaryOp, a: unknown, b: unknown, fail: Fail): unknown {
  if (op === '+') {
    if (typeof a === 'number' && typeof b === 'number') return a + b;
    if (typeof a === 'string' || typeof b === 'string') return toText(a) + toText(b);
    if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
    return fail(`cannot add ${typeName(a)} and ${typeName(b)}`);
  }
  if (typeof a !== 'number' || typeof b !== 'number') {
    return fail(`"${op}" expects numbers, got ${typeName(a)} ${show(a)} and ${typeName(b)} ${show(b)}`);
  }
  switch (op) {
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return b === 0 ? fail('division by zero') : a / b;
    default:
      return b === 0 ? fail('division by zero') : a % b;
  }
}

function compare(op: BinaryOp, a: unknown, b: unknown, fail: Fail): boolean {
  const bothNumbers = typeof a === 'number' && typeof b === 'number';
  const bothStrings = typeof a === 'string' && typeof b === 'string';
  if (!bothNumbers && !bothStrings) {
    return fail(
      `"${op}" compares two numbers or two strings, got ${typeName(a)} ${show(a)} and ${typeName(b)} ${show(b)}`,
    );
  }
  const x = a as number | string;
  const y = b as number | string;
  return op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : x >= y;
}

function evalNode(node: ExpressionNode, ctx: ExpressionContext, src: string): unknown {
  const fail: Fail = (reason) => {
    throw new ExpressionError(reason, src, node.pos + 1);
  };
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'name':
      if (node.name === 'item' && !('item' in ctx))
        return fail('"item" is only defined in the `with` of a forEach step');
      return ctx[node.name] ?? null;
    case 'member':
    case 'index': {
      const key = node.kind === 'member' ? node.property : evalNode(node.index, ctx, src);
      if (node.object.kind === 'name' && node.object.name === 'steps') {
        const steps = ctx.steps;
        const known = steps !== null && typeof steps === 'object' ? Object.keys(steps) : [];
        if (typeof key !== 'string' || !known.includes(key)) {
          return fail(`unknown step ${show(key)}${typeof key === 'string' ? didYouMean(key, known) : ''}`);
        }
      }
      return read(evalNode(node.object, ctx, src), key);
    }
    case 'unary': {
      const v = evalNode(node.operand, ctx, src);
      if (node.op === '!') return !isTruthy(v);
      return typeof v === 'number' ? -v : fail(`unary "-" expects a number, got ${typeName(v)} ${show(v)}`);
    }
    case 'logical': {
      const left = evalNode(node.left, ctx, src);
      if (node.op === '&&') return isTruthy(left) ? evalNode(node.right, ctx, src) : left;
      return isTruthy(left) ? left : evalNode(node.right, ctx, src);
    }
    case 'conditional':
      return isTruthy(evalNode(node.test, ctx, src))
        ? evalNode(node.consequent, ctx, src)
        : evalNode(node.alternate, ctx, src);
    case 'binary': {
      const a = evalNode(node.left, ctx, src);
      const b = evalNode(node.right, ctx, src);
      if (node.op === '==') return deepEqual(a, b);
      if (node.op === '!=') return !deepEqual(a, b);
      if (node.op === '<' || node.op === '<=' || node.op === '>' || node.op === '>=')
        return compare(node.op, a, b, fail);
      return arithmetic(node.op, a, b, fail);
    }
    case 'call': {
      const args = node.args.map((a) => evalNode(a, ctx, src));
      return IMPLEMENTATIONS[node.name](args, fail) ?? null;
    }
  }
}

/**
 * Evaluates a parsed expression against a context. Never returns `undefined` (missing values are `null`).
 *
 * @throws ExpressionError with the column of the failing part, e.g. `unknown step "trian"`.
 * @example
 * evaluate(parseExpression("format('{0}-{1}', params.a, 2)"), { params: { a: 'x' } }); // 'x-2'
 */
export function evaluate(expression: ParsedExpression, context: ExpressionContext): unknown {
  return evalNode(expression.ast, context, expression.source) ?? null;
}

/** What an expression reads, found without evaluating it (dynamic keys such as `params[x]` are not counted). */
export interface ExpressionReferences {
  params: Set<string>;
  steps: Set<string>;
  usesItem: boolean;
  usesRun: boolean;
}

/** Adds what one expression reads to `into`. */
export function collectReferences(expression: ParsedExpression, into: ExpressionReferences): ExpressionReferences {
  visit(expression.ast, (node) => {
    if (node.kind === 'name') {
      if (node.name === 'item') into.usesItem = true;
      if (node.name === 'run') into.usesRun = true;
      return;
    }
    const access = staticKey(node);
    if (access?.object.kind === 'name' && typeof access.key === 'string') {
      if (access.object.name === 'params') into.params.add(access.key);
      if (access.object.name === 'steps') into.steps.add(access.key);
    }
  });
  return into;
}
