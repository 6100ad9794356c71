import { describe, expect, it } from 'vitest';
import { checkParamValue, coerceParamValue, resolveParams } from './params';
import type { ParamSpec } from './schema';

const def: { params: Record<string, ParamSpec> } = {
  params: {
    minAuc: { type: 'number', default: 0.7, minimum: 0, maximum: 1 },
    window: { type: 'string', enum: ['jan', 'feb'] },
    epochs: { type: 'integer', default: 3, minimum: 1 },
    dryRun: { type: 'boolean', default: false },
    features: { type: 'array', default: ['delay'] },
    extra: { type: 'object', default: { a: 1 } },
  },
};

describe('resolveParams', () => {
  it('applies defaults and keeps given values', () => {
    const r = resolveParams(def, { window: 'feb' });
    expect(r).toEqual({
      ok: true,
      issues: [],
      params: { minAuc: 0.7, window: 'feb', epochs: 3, dryRun: false, features: ['delay'], extra: { a: 1 } },
    });
    // Defaults are copies: a run cannot change the definition.
    (r.params.features as string[]).push('x');
    expect(def.params.features.default).toEqual(['delay']);
  });

  it('types strings from a command line', () => {
    const r = resolveParams(def, {
      minAuc: '0.8',
      window: 'jan',
      epochs: '10',
      dryRun: 'true',
      features: '["a","b"]',
      extra: '{"b":2}',
    });
    expect(r.ok).toBe(true);
    expect(r.params).toEqual({
      minAuc: 0.8,
      window: 'jan',
      epochs: 10,
      dryRun: true,
      features: ['a', 'b'],
      extra: { b: 2 },
    });
  });

  it('reports every problem at once', () => {
    const r = resolveParams(def, { minAuc: 'abc', epochs: '2.5', dryRun: 'yes', features: '{', extra: [1], minAUC: 1 });
    expect(r.ok).toBe(false);
    expect(r.issues).toEqual([
      'param "minAUC": unknown param (did you mean "minAuc"?); known: minAuc, window, epochs, dryRun, features, extra',
      'param "minAuc": expected number, got "abc"',
      'param "window": required (string) but not given',
      'param "epochs": expected integer, got 2.5',
      'param "dryRun": expected boolean, got "yes"',
      'param "features": expected array, got "{"',
      'param "extra": expected object, got [1]',
    ]);
  });

  it('checks enum, minimum and maximum', () => {
    expect(resolveParams(def, { window: 'mar', minAuc: 1.5, epochs: 0 }).issues).toEqual([
      'param "minAuc": must be <= 1, got 1.5',
      'param "window": expected one of "jan", "feb", got "mar"',
      'param "epochs": must be >= 1, got 0',
    ]);
    expect(resolveParams(def, { window: 'jan', minAuc: -0.1 }).issues).toEqual([
      'param "minAuc": must be >= 0, got -0.1',
    ]);
  });

  it('a pipeline without params takes none', () => {
    expect(resolveParams({}, {})).toEqual({ ok: true, params: {}, issues: [] });
    expect(resolveParams({}, { x: 1 }).issues).toEqual(['param "x": unknown param; this pipeline takes no params']);
    expect(resolveParams({}, { x: undefined }).ok).toBe(true);
  });

  it('does not coerce values for string params or values that are already typed', () => {
    expect(resolveParams(def, { window: 5 }).issues).toContain('param "window": expected string, got 5');
    expect(coerceParamValue({ type: 'string' }, '5')).toBe('5');
    expect(coerceParamValue({ type: 'number' }, 5)).toBe(5);
    expect(coerceParamValue({ type: 'number' }, ' -1.5e1 ')).toBe(-15);
    expect(checkParamValue({ type: 'number' }, Number.NaN)).toBe('expected number, got null');
  });
});
