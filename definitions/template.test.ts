import { describe, expect, it } from 'vitest';
import { ExpressionError } from './expressions';
import {
  containsExpression,
  evaluateCondition,
  evaluateString,
  evaluateTemplate,
  hasExpressionDeep,
  parseTemplate,
} from './template';

const ctx = {
  params: { n: 3, name: 'demo', list: [1, 2], obj: { a: 1 }, none: null },
  steps: { prepare: { outputs: { rows: 100, uri: 's3://b/k' }, status: 'succeeded' } },
  run: { id: 'r1', attempt: 1, startTime: 'T' },
};

describe('evaluateString', () => {
  it('a string that is exactly one expression keeps the value type', () => {
    expect(evaluateString('${{ params.n }}', ctx)).toBe(3);
    expect(evaluateString('  ${{ params.list }}  ', ctx)).toEqual([1, 2]);
    expect(evaluateString('${{params.obj}}', ctx)).toEqual({ a: 1 });
    expect(evaluateString('${{ params.none }}', ctx)).toBeNull();
    expect(evaluateString('${{ params.n > 2 }}', ctx)).toBe(true);
  });

  it('anything else interpolates text: null as empty, objects as JSON', () => {
    expect(evaluateString('rows=${{ steps.prepare.outputs.rows }}', ctx)).toBe('rows=100');
    expect(evaluateString('${{ params.n }}${{ params.n }}', ctx)).toBe('33');
    expect(evaluateString('[${{ params.none }}]', ctx)).toBe('[]');
    expect(evaluateString('o=${{ params.obj }} l=${{ params.list }}', ctx)).toBe('o={"a":1} l=[1,2]');
    expect(evaluateString('${{ params.n }} items', ctx)).toBe('3 items');
  });

  it('leaves strings without expressions alone, and finds "}}" only outside quotes', () => {
    expect(evaluateString('plain {{ text }}', ctx)).toBe('plain {{ text }}');
    expect(evaluateString("${{ format('{0}}}', params.n) }}", ctx)).toBe('3}');
    expect(evaluateString("${{ '}}' }}", ctx)).toBe('}}');
  });

  it('reports an unterminated ${{ and bad expressions', () => {
    expect(() => parseTemplate('x ${{ params.n')).toThrow(ExpressionError);
    expect(() => parseTemplate('x ${{ params.n')).toThrow('missing "}}" to close "${{" at column 1 of ${{ params.n }}');
    expect(() => evaluateString('${{ steps.nope.outputs.x }}', ctx)).toThrow('unknown step "nope"');
  });
});

describe('evaluateTemplate', () => {
  it('walks objects and arrays deeply, copying them', () => {
    const input = {
      run: ['train.py', '--rows', '${{ steps.prepare.outputs.rows }}', '--name=${{ params.name }}'],
      nested: { list: '${{ params.list }}', keep: 5, flag: true, none: null },
      '${{ params.n }}': 'keys are not templated',
    };
    const out = evaluateTemplate(input, ctx);
    expect(out).toEqual({
      run: ['train.py', '--rows', 100, '--name=demo'],
      nested: { list: [1, 2], keep: 5, flag: true, none: null },
      '${{ params.n }}': 'keys are not templated',
    });
    expect(input.run[2]).toBe('${{ steps.prepare.outputs.rows }}');
  });

  it('passes non-strings through', () => {
    expect(evaluateTemplate(7, ctx)).toBe(7);
    expect(evaluateTemplate(undefined, ctx)).toBeUndefined();
  });
});

describe('evaluateCondition', () => {
  it('takes booleans, expressions, and no condition as true', () => {
    expect(evaluateCondition(undefined, ctx)).toBe(true);
    expect(evaluateCondition(false, ctx)).toBe(false);
    expect(evaluateCondition('${{ params.n > 5 }}', ctx)).toBe(false);
    expect(evaluateCondition('${{ params.name }}', ctx)).toBe(true);
    expect(evaluateCondition('${{ params.none }}', ctx)).toBe(false);
  });
});

describe('containsExpression / hasExpressionDeep', () => {
  it('spot expressions', () => {
    expect(containsExpression('a ${{ b }}')).toBe(true);
    expect(containsExpression('a')).toBe(false);
    expect(containsExpression(5)).toBe(false);
    expect(hasExpressionDeep({ a: [1, { b: '${{ x }}' }] })).toBe(true);
    expect(hasExpressionDeep({ a: [1, { b: 'x' }] })).toBe(false);
  });
});
