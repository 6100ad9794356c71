/**
 * Feature derivation: the one function that turns raw columns into model features, used by the ingest step on
 * training data and by serving on request rows, so both compute exactly the same values.
 *
 * A derivation is a map from feature name to a small expression over columns (no eval, no property access):
 *
 * - literals: numbers, `true` / `false` (1 / 0), `'strings'` or `"strings"` (compared with categories, or as a
 *   timestamp against a timestamp column: `date < '2001-01-25'`)
 * - names: a column (`delay`), or any column name in backticks (`` `dep delay` ``); a feature may use the ones
 *   derived before it
 * - operators, loosest first: `a ? b : c`, `||`, `&&`, `== !=`, `< <= > >=`, `+ -`, `* / %`, unary `! -`
 * - functions: see {@link FEATURE_FUNCTIONS}; timestamps are epoch milliseconds read as UTC
 *
 * Missing values (NaN, a missing category) propagate: `delay > 15` is missing where `delay` is, so a label is never
 * invented for a row without one. `&&` and `||` follow three-valued logic (`0 && missing` is 0), `isNull(x)` is
 * never missing, and division or remainder by zero is missing. Results are numeric columns (booleans are 1 / 0), or
 * a copy of a categorical column when the expression is just its name.
 */
import { categoricalFromCodes, withColumn, type CategoricalColumn, type Column, type Table } from './table';

/** Feature name → expression. Stored in model cards so serving derives what training derived. */
export type DeriveSpec = Record<string, string>;

/** What a derived feature holds: numbers, booleans (1 / 0) or, for a copied column, categories. */
export type DerivedType = 'number' | 'boolean' | 'category';

/** A derivation that does not parse, or does not fit the table it is applied to. */
export class FeatureExpressionError extends Error {
  override readonly name = 'FeatureExpressionError';
  constructor(
    /** What went wrong, without the location. */
    readonly reason: string,
    /** The feature being derived. */
    readonly feature: string,
    readonly expression: string,
    /** 1-based column in {@link expression}. */
    readonly column: number,
  ) {
    super(`feature "${feature}": ${reason} at column ${column} of \`${expression}\``);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Timestamps

const TIMESTAMP_PATTERN =
  /^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;
const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 86_400_000;

/**
 * Parses `2001-01-14`, `2001/01/14 21:55`, `2001-01-14T21:55:00.123Z`, `2001-01-14 21:55+02:00` into epoch ms.
 * Without a zone the time is UTC, whatever the machine's zone: training and serving must agree.
 *
 * @returns NaN when the text is not such a timestamp or names an impossible date.
 * @example
 * parseTimestamp('2001/01/14 21:55'); // Date.UTC(2001, 0, 14, 21, 55)
 */
export function parseTimestamp(text: string): number {
  const m = TIMESTAMP_PATTERN.exec(text.trim());
  if (!m) return NaN;
  const [y, mo, d, h = 0, mi = 0, s = 0] = m.slice(1, 7).map((p) => (p === undefined ? undefined : Number(p)));
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > daysInMonth(y!, mo!) || h! > 23 || mi! > 59 || s! > 59) return NaN;
  const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  let t = Date.UTC(y!, mo! - 1, d!, h, mi, s, ms);
  // Date.UTC maps years 0-99 to 1900-1999.
  if (y! < 100) t = new Date(t).setUTCFullYear(y!);
  const zone = m[8];
  if (zone && zone.toUpperCase() !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const offset = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0);
    t -= sign * offset * 60_000;
  }
  return t;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Year, month (1-12) and day of month of a day count since 1970-01-01 (H. Hinnant's civil_from_days). */
function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

const mod = (a: number, b: number) => ((a % b) + b) % b;

// ---------------------------------------------------------------------------------------------------------------
// Syntax

type Node =
  | { kind: 'number'; value: number; pos: number }
  | { kind: 'string'; value: string; pos: number }
  | { kind: 'column'; name: string; pos: number }
  | { kind: 'unary'; op: '!' | '-'; operand: Node; pos: number }
  | { kind: 'binary'; op: BinaryOp; left: Node; right: Node; pos: number }
  | { kind: 'conditional'; test: Node; then: Node; otherwise: Node; pos: number }
  | { kind: 'call'; name: string; args: Node[]; pos: number };

type BinaryOp = '||' | '&&' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*' | '/' | '%';

type Token =
  | { type: 'number'; value: number; pos: number; text: string }
  | { type: 'string' | 'name' | 'quoted' | 'punct'; value: string; pos: number; text: string }
  | { type: 'eof'; value: ''; pos: number; text: string };

const PUNCT = ['&&', '||', '==', '!=', '<=', '>=', '<', '>', '!', '+', '-', '*', '/', '%', '?', ':', '(', ')', ','];

/** Functions of derivations: name → [min args, max args] and what they compute. */
export const FEATURE_FUNCTIONS = {
  /** Hour of day, 0-23 (UTC). */
  hour: [1, 1],
  /** Minute of hour, 0-59. */
  minute: [1, 1],
  /** Day of week, 0 = Sunday .. 6 = Saturday (UTC). */
  dayOfWeek: [1, 1],
  /** Day of month, 1-31 (UTC). */
  dayOfMonth: [1, 1],
  /** Month, 1-12 (UTC). */
  month: [1, 1],
  year: [1, 1],
  log1p: [1, 1],
  log: [1, 1],
  sqrt: [1, 1],
  abs: [1, 1],
  min: [2, 2],
  max: [2, 2],
  /** 1 where the value is missing, else 0 (never missing itself). */
  isNull: [1, 1],
} as const satisfies Record<string, readonly [number, number]>;
type FunctionName = keyof typeof FEATURE_FUNCTIONS;
const TIME_FUNCTIONS = new Set<string>(['hour', 'minute', 'dayOfWeek', 'dayOfMonth', 'month', 'year']);

class Parser {
  private i = 0;
  private readonly tokens: Token[];
  constructor(
    private readonly src: string,
    private readonly feature: string,
  ) {
    this.tokens = this.tokenize();
  }

  private fail(reason: string, pos: number): never {
    throw new FeatureExpressionError(reason, this.feature, this.src, pos + 1);
  }

  private tokenize(): Token[] {
    const src = this.src;
    const tokens: Token[] = [];
    let i = 0;
    while (i < src.length) {
      const c = src[i];
      if (/\s/.test(c)) {
        i++;
        continue;
      }
      const start = i;
      if (/[0-9.]/.test(c)) {
        const m = /^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/.exec(src.slice(i));
        if (!m) this.fail(`unexpected "${c}"`, i);
        i += m[0].length;
        if (/[A-Za-z_]/.test(src[i] ?? '')) this.fail(`invalid number "${src.slice(start, i + 1)}"`, start);
        tokens.push({ type: 'number', value: Number(m[0]), pos: start, text: m[0] });
      } else if (c === "'" || c === '"' || c === '`') {
        const end = src.indexOf(c, i + 1);
        if (end < 0) this.fail(c === '`' ? 'unterminated `name`' : 'unterminated string', start);
        const value = src.slice(i + 1, end);
        if (c === '`' && !value) this.fail('empty column name', start);
        tokens.push({ type: c === '`' ? 'quoted' : 'string', value, pos: start, text: src.slice(i, end + 1) });
        i = end + 1;
      } else if (/[A-Za-z_]/.test(c)) {
        const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!;
        i += m[0].length;
        tokens.push({ type: 'name', value: m[0], pos: start, text: m[0] });
      } else {
        const p = PUNCT.find((q) => src.startsWith(q, i));
        if (!p) {
          if (c === '=') this.fail('unexpected "=": use "==" to compare', start);
          if (c === '&' || c === '|') this.fail(`unexpected "${c}": use "${c}${c}"`, start);
          this.fail(`unexpected character "${c}"`, start);
        }
        i += p.length;
        tokens.push({ type: 'punct', value: p, pos: start, text: p });
      }
    }
    tokens.push({ type: 'eof', value: '', pos: src.length, text: 'end of expression' });
    return tokens;
  }

  private get tok(): Token {
    return this.tokens[this.i];
  }

  private isPunct(...values: string[]): boolean {
    return this.tok.type === 'punct' && values.includes(this.tok.value as string);
  }

  private unexpected(): never {
    const t = this.tok;
    return this.fail(t.type === 'eof' ? 'unexpected end of expression' : `unexpected "${t.text}"`, t.pos);
  }

  private expect(value: string): void {
    if (!this.isPunct(value)) {
      const t = this.tok;
      this.fail(`expected "${value}" but found ${t.type === 'eof' ? 'the end' : `"${t.text}"`}`, t.pos);
    }
    this.i++;
  }

  parse(): Node {
    if (this.tok.type === 'eof') this.fail('empty expression', 0);
    const node = this.conditional();
    if ((this.tok as Token).type !== 'eof') this.unexpected();
    return node;
  }

  private conditional(): Node {
    const test = this.binary(0);
    if (!this.isPunct('?')) return test;
    const pos = this.tok.pos;
    this.i++;
    const then = this.conditional();
    this.expect(':');
    return { kind: 'conditional', test, then, otherwise: this.conditional(), pos };
  }

  private static readonly LEVELS: BinaryOp[][] = [
    ['||'],
    ['&&'],
    ['==', '!='],
    ['<', '<=', '>', '>='],
    ['+', '-'],
    ['*', '/', '%'],
  ];

  private binary(level: number): Node {
    if (level === Parser.LEVELS.length) return this.unary();
    let left = this.binary(level + 1);
    while (this.isPunct(...Parser.LEVELS[level])) {
      const t = this.tokens[this.i++];
      left = { kind: 'binary', op: t.value as BinaryOp, left, right: this.binary(level + 1), pos: t.pos };
    }
    return left;
  }

  private unary(): Node {
    if (this.isPunct('!', '-')) {
      const t = this.tokens[this.i++];
      return { kind: 'unary', op: t.value as '!' | '-', operand: this.unary(), pos: t.pos };
    }
    return this.primary();
  }

  private primary(): Node {
    const t = this.tok;
    if (t.type === 'number') {
      this.i++;
      return { kind: 'number', value: t.value, pos: t.pos };
    }
    if (t.type === 'string') {
      this.i++;
      return { kind: 'string', value: t.value, pos: t.pos };
    }
    if (t.type === 'quoted') {
      this.i++;
      return { kind: 'column', name: t.value, pos: t.pos };
    }
    if (t.type === 'name') {
      this.i++;
      if (t.value === 'true' || t.value === 'false')
        return { kind: 'number', value: t.value === 'true' ? 1 : 0, pos: t.pos };
      if (this.isPunct('(')) return this.call(t.value, t.pos);
      return { kind: 'column', name: t.value, pos: t.pos };
    }
    if (this.isPunct('(')) {
      this.i++;
      const inner = this.conditional();
      this.expect(')');
      return inner;
    }
    return this.unexpected();
  }

  private call(name: string, pos: number): Node {
    if (!Object.hasOwn(FEATURE_FUNCTIONS, name)) {
      this.fail(`unknown function "${name}" (have: ${Object.keys(FEATURE_FUNCTIONS).join(', ')})`, pos);
    }
    this.expect('(');
    const args: Node[] = [];
    if (!this.isPunct(')')) {
      args.push(this.conditional());
      while (this.isPunct(',')) {
        this.i++;
        args.push(this.conditional());
      }
    }
    this.expect(')');
    const [min, max] = FEATURE_FUNCTIONS[name as FunctionName];
    if (args.length < min || args.length > max) {
      this.fail(`${name}() takes ${min === max ? min : `${min} to ${max}`} argument(s), got ${args.length}`, pos);
    }
    return { kind: 'call', name, args, pos };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Column-wise evaluation

/** An intermediate value: a numeric vector, a scalar, a string literal or a categorical column. */
type Value =
  | { t: 'vector'; v: Float64Array; bool: boolean }
  | { t: 'scalar'; v: number; bool: boolean }
  | { t: 'string'; v: string }
  | { t: 'category'; column: CategoricalColumn };

type Numeric = Float64Array | number;

function map1(a: Numeric, n: number, f: (x: number) => number): Numeric {
  if (typeof a === 'number') return f(a);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = f(a[i]);
  return out;
}

function map2(a: Numeric, b: Numeric, n: number, f: (x: number, y: number) => number): Numeric {
  if (typeof a === 'number' && typeof b === 'number') return f(a, b);
  const out = new Float64Array(n);
  if (typeof a === 'number') for (let i = 0; i < n; i++) out[i] = f(a, (b as Float64Array)[i]);
  else if (typeof b === 'number') for (let i = 0; i < n; i++) out[i] = f(a[i], b);
  else for (let i = 0; i < n; i++) out[i] = f(a[i], b[i]);
  return out;
}

const fromNumeric = (v: Numeric, bool: boolean): Value =>
  typeof v === 'number' ? { t: 'scalar', v, bool } : { t: 'vector', v, bool };

const NUMERIC_OPS: Record<string, (x: number, y: number) => number> = {
  '+': (x, y) => x + y,
  '-': (x, y) => x - y,
  '*': (x, y) => x * y,
  '/': (x, y) => (y === 0 ? NaN : x / y),
  '%': (x, y) => (y === 0 ? NaN : x % y),
  // Comparisons with a missing side are missing (NaN compares false, which would invent a value).
  '<': (x, y) => (x !== x || y !== y ? NaN : x < y ? 1 : 0),
  '<=': (x, y) => (x !== x || y !== y ? NaN : x <= y ? 1 : 0),
  '>': (x, y) => (x !== x || y !== y ? NaN : x > y ? 1 : 0),
  '>=': (x, y) => (x !== x || y !== y ? NaN : x >= y ? 1 : 0),
  '==': (x, y) => (x !== x || y !== y ? NaN : x === y ? 1 : 0),
  '!=': (x, y) => (x !== x || y !== y ? NaN : x !== y ? 1 : 0),
  // Kleene logic: a known false decides &&, a known true decides ||.
  '&&': (x, y) => (x === 0 || y === 0 ? 0 : x !== x || y !== y ? NaN : 1),
  '||': (x, y) => ((x !== 0 && x === x) || (y !== 0 && y === y) ? 1 : x !== x || y !== y ? NaN : 0),
};
const BOOLEAN_OPS = new Set(['<', '<=', '>', '>=', '==', '!=', '&&', '||']);

const UNARY_FUNCTIONS: Record<string, (x: number) => number> = {
  hour: (t) => Math.floor(mod(t, MS_PER_DAY) / MS_PER_HOUR),
  minute: (t) => Math.floor(mod(t, MS_PER_HOUR) / 60_000),
  // 1970-01-01 was a Thursday (4).
  dayOfWeek: (t) => mod(Math.floor(t / MS_PER_DAY) + 4, 7),
  dayOfMonth: (t) => (t === t ? civilFromDays(Math.floor(t / MS_PER_DAY))[2] : NaN),
  month: (t) => (t === t ? civilFromDays(Math.floor(t / MS_PER_DAY))[1] : NaN),
  year: (t) => (t === t ? civilFromDays(Math.floor(t / MS_PER_DAY))[0] : NaN),
  log1p: Math.log1p,
  log: Math.log,
  sqrt: Math.sqrt,
  abs: Math.abs,
  isNull: (x) => (x !== x ? 1 : 0),
};

class Evaluator {
  constructor(
    private readonly table: Table,
    private readonly feature: string,
    private readonly src: string,
  ) {}

  private fail(reason: string, node: Node): never {
    throw new FeatureExpressionError(reason, this.feature, this.src, node.pos + 1);
  }

  private get n(): number {
    return this.table.numRows;
  }

  eval(node: Node): Value {
    switch (node.kind) {
      case 'number':
        return { t: 'scalar', v: node.value, bool: false };
      case 'string':
        return { t: 'string', v: node.value };
      case 'column': {
        const column = this.table.columns.find((c) => c.name === node.name);
        if (!column) {
          return this.fail(
            `no column "${node.name}" (have: ${this.table.columns.map((c) => c.name).join(', ')})`,
            node,
          );
        }
        return column.kind === 'numeric' ? { t: 'vector', v: column.values, bool: false } : { t: 'category', column };
      }
      case 'unary': {
        const v = this.numeric(this.eval(node.operand), node, `unary "${node.op}"`);
        return node.op === '-'
          ? fromNumeric(
              map1(v, this.n, (x) => -x),
              false,
            )
          : fromNumeric(
              map1(v, this.n, (x) => (x !== x ? NaN : x === 0 ? 1 : 0)),
              true,
            );
      }
      case 'binary':
        return this.binary(node);
      case 'conditional': {
        const test = this.numeric(this.eval(node.test), node.test, '"?"');
        const a = this.eval(node.then);
        const b = this.eval(node.otherwise);
        const x = this.numeric(a, node.then, '"?"');
        const y = this.numeric(b, node.otherwise, '"?"');
        const bool =
          (a.t === 'vector' || a.t === 'scalar') && a.bool && (b.t === 'vector' || b.t === 'scalar') && b.bool;
        if (typeof test === 'number') return test !== test ? { t: 'scalar', v: NaN, bool } : test ? a : b;
        const out = new Float64Array(this.n);
        for (let i = 0; i < this.n; i++) {
          const c = test[i];
          out[i] = c !== c ? NaN : c !== 0 ? (typeof x === 'number' ? x : x[i]) : typeof y === 'number' ? y : y[i];
        }
        return { t: 'vector', v: out, bool };
      }
      case 'call':
        return this.call(node);
    }
  }

  private numeric(v: Value, node: Node, what: string): Numeric {
    if (v.t === 'vector' || v.t === 'scalar') return v.v;
    if (v.t === 'string') return this.fail(`${what} needs a number, got the string '${v.v}'`, node);
    return this.fail(`${what} needs a number, got the categorical column "${v.column.name}"`, node);
  }

  private binary(node: Extract<Node, { kind: 'binary' }>): Value {
    const a = this.eval(node.left);
    const b = this.eval(node.right);
    const op = node.op;
    if ((op === '==' || op === '!=') && (a.t === 'category' || b.t === 'category')) {
      return this.compareCategory(node, a, b);
    }
    // A string against numbers is a timestamp: `date >= '2001-01-15'`.
    const side = (v: Value, at: Node): Numeric => {
      if (v.t === 'string' && BOOLEAN_OPS.has(op) && op !== '&&' && op !== '||') {
        const t = parseTimestamp(v.v);
        if (t !== t) this.fail(`'${v.v}' is not a timestamp (compare categories with == or !=)`, at);
        return t;
      }
      return this.numeric(v, at, `"${op}"`);
    };
    const x = side(a, node.left);
    const y = side(b, node.right);
    return fromNumeric(map2(x, y, this.n, NUMERIC_OPS[op]), BOOLEAN_OPS.has(op));
  }

  private compareCategory(node: Extract<Node, { kind: 'binary' }>, a: Value, b: Value): Value {
    const [c, other] = a.t === 'category' ? [a.column, b] : [(b as { column: CategoricalColumn }).column, a];
    const equal = node.op === '==' ? 1 : 0;
    const out = new Float64Array(this.n);
    if (other.t === 'string') {
      const target = c.dictionary.indexOf(other.v);
      for (let i = 0; i < this.n; i++) {
        const code = c.codes[i];
        out[i] = code < 0 ? NaN : code === target ? equal : 1 - equal;
      }
    } else if (other.t === 'category') {
      const index = new Map(other.column.dictionary.map((s, i) => [s, i]));
      const mapped = c.dictionary.map((s) => index.get(s) ?? -2);
      for (let i = 0; i < this.n; i++) {
        const x = c.codes[i];
        const y = other.column.codes[i];
        out[i] = x < 0 || y < 0 ? NaN : mapped[x] === y ? equal : 1 - equal;
      }
    } else {
      return this.fail(`"${node.op}" compares the categorical column "${c.name}" with a number`, node);
    }
    return { t: 'vector', v: out, bool: true };
  }

  private call(node: Extract<Node, { kind: 'call' }>): Value {
    const args = node.args.map((a) => this.eval(a));
    if (node.name === 'min' || node.name === 'max') {
      const [x, y] = args.map((v, i) => this.numeric(v, node.args[i], `${node.name}()`));
      const f = node.name === 'min' ? Math.min : Math.max;
      return fromNumeric(map2(x, y, this.n, f), false);
    }
    const arg = args[0];
    const f = UNARY_FUNCTIONS[node.name];
    if (node.name === 'isNull' && arg.t === 'category') {
      const out = new Float64Array(this.n);
      for (let i = 0; i < this.n; i++) out[i] = arg.column.codes[i] < 0 ? 1 : 0;
      return { t: 'vector', v: out, bool: true };
    }
    if (TIME_FUNCTIONS.has(node.name) && (arg.t === 'category' || arg.t === 'string')) {
      // Timestamps that arrive as text (a serving request): parse each distinct value once.
      if (arg.t === 'string') {
        const t = parseTimestamp(arg.v);
        return { t: 'scalar', v: t === t ? f(t) : NaN, bool: false };
      }
      const perCode = arg.column.dictionary.map((s) => {
        const t = parseTimestamp(s);
        return t === t ? f(t) : NaN;
      });
      const out = new Float64Array(this.n);
      for (let i = 0; i < this.n; i++) {
        const code = arg.column.codes[i];
        out[i] = code < 0 ? NaN : perCode[code];
      }
      return { t: 'vector', v: out, bool: false };
    }
    const x = this.numeric(arg, node.args[0], `${node.name}()`);
    return fromNumeric(map1(x, this.n, f), node.name === 'isNull');
  }
}

function collectColumns(node: Node, into: Set<string>): Set<string> {
  switch (node.kind) {
    case 'column':
      into.add(node.name);
      break;
    case 'unary':
      collectColumns(node.operand, into);
      break;
    case 'binary':
      collectColumns(node.left, into);
      collectColumns(node.right, into);
      break;
    case 'conditional':
      collectColumns(node.test, into);
      collectColumns(node.then, into);
      collectColumns(node.otherwise, into);
      break;
    case 'call':
      node.args.forEach((a) => collectColumns(a, into));
      break;
  }
  return into;
}

/** One compiled feature of a derivation. */
export interface DerivedFeature {
  name: string;
  expression: string;
  /** Columns the expression reads (raw or derived before it). */
  reads: string[];
}

/** A parsed derivation, ready to apply to any number of tables. */
export interface CompiledDerive {
  readonly spec: DeriveSpec;
  readonly features: readonly DerivedFeature[];
  /** Raw columns a table must have: what the features read, less what they derive themselves. */
  readonly inputs: readonly string[];
  /** The table with every feature added (or replaced, when a feature reuses a column's name), in spec order. */
  apply(table: Table): Table;
  /** {@link apply}, also saying what each derived feature holds. */
  applyWithTypes(table: Table): { table: Table; types: Record<string, DerivedType> };
}

/**
 * Parses every expression of a derivation once.
 *
 * @throws FeatureExpressionError for the first expression that does not parse, with its column.
 * @example
 * const derive = compileDerive({ delayed: 'delay > 15', hour: 'hour(date)' });
 * derive.inputs; // ['delay', 'date']
 * const features = derive.apply(table);
 */
export function compileDerive(spec: DeriveSpec): CompiledDerive {
  const parsed = Object.entries(spec).map(([name, expression]) => {
    if (!name.trim()) throw new FeatureExpressionError('empty feature name', name, expression, 1);
    if (typeof expression !== 'string') {
      throw new FeatureExpressionError(`expected an expression string, got ${typeof expression}`, name, '', 1);
    }
    const ast = new Parser(expression.trim(), name).parse();
    return { name, expression: expression.trim(), ast, reads: [...collectColumns(ast, new Set())] };
  });
  const derived = new Set<string>();
  const inputs = new Set<string>();
  for (const f of parsed) {
    for (const c of f.reads) if (!derived.has(c)) inputs.add(c);
    derived.add(f.name);
  }
  const applyWithTypes = (table: Table) => {
    let out = table;
    const types: Record<string, DerivedType> = {};
    for (const f of parsed) {
      const value = new Evaluator(out, f.name, f.expression).eval(f.ast);
      let column: Column;
      if (value.t === 'category') {
        column = categoricalFromCodes(f.name, value.column.codes, value.column.dictionary);
        types[f.name] = 'category';
      } else if (value.t === 'string') {
        throw new FeatureExpressionError(
          'a feature must be a number or a column, not a string',
          f.name,
          f.expression,
          1,
        );
      } else {
        const values = value.t === 'scalar' ? new Float64Array(out.numRows).fill(value.v) : value.v;
        // A bare numeric column reference shares memory with its source: copy so the two stay independent.
        const own = f.ast.kind === 'column' ? values.slice() : values;
        column = { kind: 'numeric', name: f.name, values: own };
        types[f.name] = value.bool ? 'boolean' : 'number';
      }
      out = withColumn(out, column);
    }
    return { table: out, types };
  };
  return {
    spec: { ...spec },
    features: parsed.map(({ name, expression, reads }) => ({ name, expression, reads })),
    inputs: [...inputs],
    apply: (table) => applyWithTypes(table).table,
    applyWithTypes,
  };
}

/**
 * Adds the derived features to a table: the one implementation shared by training and serving.
 *
 * @throws FeatureExpressionError when an expression does not parse or reads a column the table lacks.
 * @example
 * const rows = deriveFeatures(requestTable, card.derive); // same features as at training time
 */
export function deriveFeatures(table: Table, spec: DeriveSpec): Table {
  return compileDerive(spec).apply(table);
}
