import { describe, expect, it } from 'vitest';
import {
  checkGateMetrics,
  evaluateGates,
  failedGateMessages,
  fmt,
  GatesSchema,
  lowerIsBetter,
  splitGates,
} from './gates';

const parse = (gates: unknown) => splitGates(GatesSchema.parse(gates));

describe('GatesSchema', () => {
  it('splits metric bounds from the champion gate and defaults maxDrop to 0', () => {
    expect(parse({ auc: { min: 0.6 }, logLoss: { max: 0.7 }, vsChampion: { metric: 'auc' } })).toEqual({
      bounds: { auc: { min: 0.6 }, logLoss: { max: 0.7 } },
      vsChampion: { metric: 'auc', maxDrop: 0 },
    });
    expect(parse({})).toEqual({ bounds: {}, vsChampion: null });
  });

  it('rejects empty, inverted and misspelt gates with the gate name in the path', () => {
    const result = GatesSchema.safeParse({
      auc: {},
      f1: { min: 0.9, max: 0.1 },
      rmse: { maximum: 3 },
      vsChampion: { metric: 'auc', maxDrop: -1 },
    });
    expect(result.success).toBe(false);
    const paths = result.error!.issues.map((i) => i.path[0]);
    expect(new Set(paths)).toEqual(new Set(['auc', 'f1', 'rmse', 'vsChampion']));
  });
});

describe('bound gates', () => {
  const gates = parse({ auc: { min: 0.6 }, logLoss: { max: 0.7 }, r2: { min: 0, max: 1 } });

  it('pass on and inside the bounds', () => {
    const results = evaluateGates(gates, { auc: 0.6, logLoss: 0.7, r2: 0.5 }, null);
    expect(results.map((r) => [r.gate, r.kind, r.passed])).toEqual([
      ['auc', 'min', true],
      ['logLoss', 'max', true],
      ['r2', 'min', true],
      ['r2', 'max', true],
    ]);
    expect(results[0].message).toBe('gate auc: 0.6 >= min 0.6');
  });

  it('fail outside the bounds with the metric, value and bound in the message', () => {
    const results = evaluateGates(gates, { auc: 0.581, logLoss: 0.93412, r2: -0.2 }, null);
    expect(failedGateMessages(results)).toEqual([
      'gate auc: 0.581 < min 0.6',
      'gate logLoss: 0.9341 > max 0.7',
      'gate r2: -0.2 < min 0',
    ]);
    expect(results[0]).toMatchObject({ value: 0.581, bound: 0.6, passed: false });
  });

  it('prints enough digits that a near miss does not read as equal', () => {
    const [result] = evaluateGates(parse({ auc: { min: 0.6 } }), { auc: 0.599996 }, null);
    expect(result.message).toBe('gate auc: 0.599996 < min 0.6');
  });

  it('fails a metric that is NaN or absent', () => {
    const results = evaluateGates(parse({ auc: { min: 0.5 } }), { auc: NaN }, null);
    expect(results[0]).toMatchObject({ passed: false, value: null });
    expect(results[0].message).toBe('gate auc: no value (undefined on this data), needs min 0.5');
  });
});

describe('vsChampion gate', () => {
  it('higher-is-better: fails when candidate < champion - maxDrop', () => {
    const gates = parse({ vsChampion: { metric: 'auc', maxDrop: 0.005 } });
    const pass = evaluateGates(gates, { auc: 0.708 }, { auc: 0.712 })[0];
    expect(pass).toMatchObject({ passed: true, champion: 0.712, maxDrop: 0.005 });
    expect(pass.bound).toBeCloseTo(0.707, 12);
    const fail = evaluateGates(gates, { auc: 0.701 }, { auc: 0.712 })[0];
    expect(fail.passed).toBe(false);
    expect(fail.message).toBe('gate vsChampion auc: 0.701 < champion 0.712 - maxDrop 0.005');
  });

  it('lower-is-better metrics flip the direction', () => {
    for (const metric of ['logLoss', 'rmse', 'mae', 'ece']) {
      expect(lowerIsBetter(metric)).toBe(true);
      const gates = parse({ vsChampion: { metric, maxDrop: 0.01 } });
      expect(evaluateGates(gates, { [metric]: 0.3 }, { [metric]: 0.295 })[0].passed).toBe(true);
      const fail = evaluateGates(gates, { [metric]: 0.32 }, { [metric]: 0.3 })[0];
      expect(fail).toMatchObject({ passed: false, bound: 0.31 });
      expect(fail.message).toBe(`gate vsChampion ${metric}: 0.32 > champion 0.3 + maxDrop 0.01`);
    }
    expect(lowerIsBetter('auc')).toBe(false);
    expect(lowerIsBetter('r2')).toBe(false);
  });

  it('is skipped (and passes) without a champion or when the champion has no value', () => {
    const gates = parse({ vsChampion: { metric: 'auc', maxDrop: 0 } });
    expect(evaluateGates(gates, { auc: 0.5 }, null)[0]).toMatchObject({ passed: true, skipped: true, bound: null });
    expect(evaluateGates(gates, { auc: 0.5 }, { auc: NaN })[0]).toMatchObject({ passed: true, skipped: true });
  });

  it('fails when the champion could not be scored (a comparison asked for and not made is no pass)', () => {
    const gates = parse({ vsChampion: { metric: 'auc' } });
    const [result] = evaluateGates(gates, { auc: 0.8 }, null, { championError: 'no column "hour"' });
    expect(result).toMatchObject({ passed: false, champion: null });
    expect(result.message).toBe(
      'gate vsChampion auc: the champion could not be scored on this data (no column "hour")',
    );
  });

  it('fails when the candidate has no value but the champion has', () => {
    const gates = parse({ vsChampion: { metric: 'auc' } });
    expect(evaluateGates(gates, {}, { auc: 0.7 })[0]).toMatchObject({ passed: false, value: null, champion: 0.7 });
  });

  it('lists every failed gate, bounds first', () => {
    const gates = parse({ auc: { min: 0.8 }, logLoss: { max: 0.5 }, vsChampion: { metric: 'auc', maxDrop: 0 } });
    expect(failedGateMessages(evaluateGates(gates, { auc: 0.7, logLoss: 0.6 }, { auc: 0.75 }))).toEqual([
      'gate auc: 0.7 < min 0.8',
      'gate logLoss: 0.6 > max 0.5',
      'gate vsChampion auc: 0.7 < champion 0.75 - maxDrop 0',
    ]);
  });
});

describe('checkGateMetrics', () => {
  it('names every gate whose metric the evaluation does not compute', () => {
    const gates = parse({ auc: { min: 0.6 }, rmse: { max: 3 }, vsChampion: { metric: 'mae' } });
    expect(checkGateMetrics(gates, ['auc', 'logLoss'])).toEqual([
      'gate rmse: no metric "rmse" (have: auc, logLoss)',
      'gate vsChampion: no metric "mae" (have: auc, logLoss)',
    ]);
    expect(checkGateMetrics(gates, ['auc', 'rmse', 'mae'])).toEqual([]);
  });
});

describe('fmt', () => {
  it('keeps four significant digits without trailing zeros', () => {
    expect(fmt(0.58137)).toBe('0.5814');
    expect(fmt(0.6)).toBe('0.6');
    expect(fmt(1234.567)).toBe('1235');
    expect(fmt(NaN)).toBe('NaN');
  });
});
