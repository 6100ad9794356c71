import { describe, expect, it } from 'vitest';
import { evaluate, ExpressionError, findReferences, parseExpression, type ExpressionContext } from './index';

const ctx: ExpressionContext = {
  params: { minAuc: 0.7, name: 'demo', items: ['a', 'b'], nested: { k: 1 }, flag: false, zero: 0 },
  steps: {
    train: { outputs: { auc: 0.81, path: 's3://b/model.onnx', metrics: { f1: 0.5 } }, status: 'succeeded' },
    'my-step': { outputs: { rows: 100 }, status: 'succeeded' },
    pending: { outputs: null, status: 'pending' },
  },
  run: { id: 'run-1', attempt: 2, startTime: '2024-01-01T00:00:00.000Z' },
};

const ev = (src: string, c: ExpressionContext = ctx) => evaluate(parseExpression(src), c);

/** The error an expression throws (reason and column). */
function failure(src: string, c: ExpressionContext = ctx): { reason: string; column: number; message: string } {
  try {
    ev(src, c);
  } catch (err) {
    expect(err).toBeInstanceOf(ExpressionError);
    const e = err as ExpressionError;
    return { reason: e.reason, column: e.column, message: e.message };
  }
  throw new Error(`expected ${src} to fail`);
}

describe('literals and paths', () => {
  it.each([
    ['42', 42],
    ['1.5e2', 150],
    ['.5', 0.5],
    ["'it''s'", "it's"],
    ['"a\\nb"', 'a\nb'],
    ["'x\\'y'", "x'y"],
    ['true', true],
    ['false', false],
    ['null', null],
    ['params.minAuc', 0.7],
    ['params.nested.k', 1],
    ["params['name']", 'demo'],
    ['params.items[1]', 'b'],
    ['steps.train.outputs.auc', 0.81],
    ['steps.train.outputs.metrics.f1', 0.5],
    ["steps['train'].outputs['path']", 's3://b/model.onnx'],
    ['steps.my-step.outputs.rows', 100],
    ['steps.train.status', 'succeeded'],
    ['run.id', 'run-1'],
    ['run.attempt', 2],
    ['run.startTime', '2024-01-01T00:00:00.000Z'],
  ])('%s', (src, value) => {
    expect(ev(src)).toEqual(value);
  });

  it('reads a missing property as null, never throwing', () => {
    expect(ev('params.nope')).toBeNull();
    expect(ev('params.nope.deeper[3]')).toBeNull();
    expect(ev('steps.pending.outputs.auc')).toBeNull();
    expect(ev('params.items[5]')).toBeNull();
    expect(ev('params.items[-1]')).toBeNull();
    expect(ev('params.name.length')).toBeNull();
    expect(ev('params.constructor')).toBeNull();
    expect(ev("params['__proto__']")).toBeNull();
    expect(ev('params.minAuc', {})).toBeNull();
  });

  it('item, inside forEach only', () => {
    expect(ev('item', { item: { x: [1, 2] } })).toEqual({ x: [1, 2] });
    expect(ev('item.x[1]', { item: { x: [1, 2] } })).toBe(2);
    expect(ev("item['x']", { item: { x: 3 } })).toBe(3);
    expect(failure('item', {}).reason).toBe('"item" is only defined in the `with` of a forEach step');
  });
});

describe('operators', () => {
  it.each([
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
    ['10 - 4 - 3', 3],
    ['2 * 3 % 4', 2],
    ['-2 * 3', -6],
    ['- -2', 2],
    ['7 / 2', 3.5],
    ["'a' + 1", 'a1'],
    ["'n=' + null", 'n='],
    ['params.items + params.items', ['a', 'b', 'a', 'b']],
    ['1 + 2 == 3', true],
    ['1 < 2 == true', true],
    ['2 >= 2 && 3 > 2', true],
    ["'abc' < 'abd'", true],
    ['!params.flag', true],
    ['!!params.name', true],
    ['params.zero || 5', 5],
    ["params.name && 'yes'", 'yes'],
    ['params.flag && 1', false],
    ['null || false', false],
    ['true || 1 / 0', true],
    ['1 == 1 || 2 == 3 && false', true],
    ["params.minAuc > 0.5 ? 'go' : 'stop'", 'go'],
    ['false ? 1 : true ? 2 : 3', 2],
    ['params.nested == fromJSON(\'{"k":1}\')', true],
    ['params.items != params.items', false],
    ["1 == '1'", false],
    ['null == params.nope', true],
    ['steps.train.outputs.auc >= params.minAuc', true],
  ])('%s', (src, value) => {
    expect(ev(src)).toEqual(value);
  });

  it('refuses mixed types instead of coercing', () => {
    expect(failure("1 < 'a'").reason).toBe('"<" compares two numbers or two strings, got number 1 and string "a"');
    expect(failure("'a' * 2")).toMatchObject({ reason: '"*" expects numbers, got string "a" and number 2', column: 5 });
    expect(failure('-params.name').reason).toBe('unary "-" expects a number, got string "demo"');
    expect(failure('1 / 0').reason).toBe('division by zero');
    expect(failure('true + 1').reason).toBe('cannot add boolean and number');
  });
});

describe('functions', () => {
  it.each([
    ['len(params.items)', 2],
    ["len('abc')", 3],
    ['len(params.nested)', 1],
    ['len(null)', 0],
    ["contains(params.items, 'b')", true],
    ["contains('hello', 'ell')", true],
    ['contains(params.nope, 1)', false],
    ["startsWith(steps.train.outputs.path, 's3://')", true],
    ["endsWith(steps.train.outputs.path, '.onnx')", true],
    ["format('{0}-{1}-{0}', params.name, 2)", 'demo-2-demo'],
    ["format('{{literal}} {0}', params.items)", '{literal} ["a","b"]'],
    ['toJSON(params.nested)', '{"k":1}'],
    ["fromJSON('[1,2]')", [1, 2]],
    ['min(3, 1, 2)', 1],
    ["max(fromJSON('[3, 9, 2]'))", 9],
    ["min(fromJSON('[]'))", null],
    ['round(3.14159, 2)', 3.14],
    ['round(2.5)', 3],
    ['range(3)', [0, 1, 2]],
    ['range(2, 5)', [2, 3, 4]],
    ['range(0)', []],
    ['default(params.nope, 7)', 7],
    ['default(params.zero, 7)', 0],
    ["join(params.items, '+')", 'a+b'],
    ['join(params.items)', 'a,b'],
  ])('%s', (src, value) => {
    expect(ev(src)).toEqual(value);
  });

  it('reports bad arguments at the call', () => {
    expect(failure('1 + len(5)')).toMatchObject({
      reason: 'len() expects a string, array or object, got number',
      column: 5,
    });
    expect(failure("fromJSON('{')").reason).toMatch(/^fromJSON\(\): /);
    expect(failure("format('{2}', 1)").reason).toBe('format(): {2} has no argument (got 1)');
    expect(failure('range(1.5)').reason).toBe('range() expects integers, got 1.5');
    expect(failure('range(1000000)').reason).toBe('range() is limited to 100000 items, asked for 1000000');
    expect(failure("max(1, 'a')").reason).toBe('max() expects numbers, got string');
  });
});

describe('errors name the expression and the column', () => {
  const syntax = (src: string) => {
    try {
      parseExpression(src);
    } catch (err) {
      expect(err).toBeInstanceOf(ExpressionError);
      return (err as ExpressionError).message;
    }
    throw new Error(`expected ${src} not to parse`);
  };

  it('syntax errors', () => {
    expect(syntax('params.x + )')).toBe('unexpected ")" at column 12 of ${{ params.x + ) }}');
    expect(syntax('params.x +')).toBe('unexpected end of expression at column 11 of ${{ params.x + }}');
    expect(syntax('(1 + 2')).toBe('expected ")" but found the end at column 7 of ${{ (1 + 2 }}');
    expect(syntax("'open")).toBe("unterminated string at column 1 of ${{ 'open }}");
    expect(syntax('a == 1')).toBe(
      'unknown name "a"; expressions read params, steps, run, item at column 1 of ${{ a == 1 }}',
    );
    expect(syntax('parms.x')).toBe(
      'unknown name "parms" (did you mean "params"?); expressions read params, steps, run, item at column 1 of ${{ parms.x }}',
    );
    expect(syntax('params.x = 1')).toBe('unexpected "=": use "==" to compare at column 10 of ${{ params.x = 1 }}');
    expect(syntax('params.a & 1')).toBe('unexpected "&": use "&&" at column 10 of ${{ params.a & 1 }}');
    expect(syntax('lenn(params.items)')).toBe(
      'unknown function "lenn" (did you mean "len"?) at column 1 of ${{ lenn(params.items) }}',
    );
    expect(syntax('len(1, 2)')).toBe('len() takes 1 argument, got 2 at column 1 of ${{ len(1, 2) }}');
    expect(syntax('format()')).toBe('format() takes at least 1 argument, got 0 at column 1 of ${{ format() }}');
    expect(syntax('')).toBe('empty expression at column 1 of ${{  }}');
    expect(syntax('1 $ 2')).toBe('unexpected character "$" at column 3 of ${{ 1 $ 2 }}');
    expect(syntax('run.ids')).toBe('unknown property "ids" of run (did you mean "id"?) at column 5 of ${{ run.ids }}');
    expect(syntax('steps.train.output.auc')).toBe(
      'unknown property "output" of a step (steps.train) (did you mean "outputs"?) at column 13 of ${{ steps.train.output.auc }}',
    );
  });

  it('evaluation errors: a step the run does not know', () => {
    expect(failure('1 + steps.trian.outputs.auc')).toEqual({
      reason: 'unknown step "trian" (did you mean "train"?)',
      column: 11,
      message: 'unknown step "trian" (did you mean "train"?) at column 11 of ${{ 1 + steps.trian.outputs.auc }}',
    });
    expect(failure('steps[params.name]').reason).toBe('unknown step "demo"');
  });
});

describe('findReferences', () => {
  it('collects params, steps, item and run statically', () => {
    const refs = findReferences({
      a: '${{ params.x + steps.train.outputs.auc }}',
      b: ["${{ steps['prep'].status }} and ${{ item.k }}", '${{ run.id }}'],
      c: { d: '${{ params[params.key] }}', e: 'plain ${{ default(params.y, 1) }}' },
      bad: '${{ params.z + ) }}',
    });
    expect([...refs.params].sort()).toEqual(['key', 'x', 'y']);
    expect([...refs.steps].sort()).toEqual(['prep', 'train']);
    expect(refs.usesItem).toBe(true);
    expect(refs.usesRun).toBe(true);
    expect(findReferences('no expressions')).toEqual({
      params: new Set(),
      steps: new Set(),
      usesItem: false,
      usesRun: false,
    });
  });
});
