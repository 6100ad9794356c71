import { describe, expect, it } from 'vitest';
import { categoricalColumn, numericColumn, tableFromColumns } from '../../ml/table';
import type { PredictionRecord } from '../../storage/prediction-log';
import type { InstanceReport } from '../../storage/serving-state';
import { scoresFromOutputs, smokeInputs } from './deploy';
import { judgeCanary, judgeShadow, measureQuality, statsDelta, type CanaryBounds } from './deploy-rules';
import { buildSmokeSample, compareSmokeScores } from './smoke-sample';

const report = (id: string, startedAt: string, stats: InstanceReport['stats']): InstanceReport => ({
  instanceId: id,
  url: `http://${id}`,
  startedAt,
  updatedAt: startedAt,
  models: {},
  stats,
});
const s = (requests: number, errors: number, latencySumMs: number) => ({
  requests,
  errors,
  latencySumMs,
  slowRequests: 0,
});

describe('statsDelta', () => {
  it('sums per-instance deltas, counting restarted and new instances from zero', () => {
    const before = [report('a', 't0', { 'm@2': s(100, 1, 200) }), report('b', 't0', { 'm@2': s(50, 0, 50) })];
    const after = [
      report('a', 't0', { 'm@2': s(130, 3, 260) }), // +30 requests, +2 errors
      report('b', 't1', { 'm@2': s(5, 0, 10) }), // restarted: 5 since
      report('c', 't2', { 'm@2': s(7, 1, 14), 'm@1': s(99, 0, 1) }), // new
    ];
    expect(statsDelta(before, after, 'm', 2)).toEqual({ requests: 42, errors: 3, latencySumMs: 84 });
    expect(statsDelta(before, after, 'm', 3)).toEqual({ requests: 0, errors: 0, latencySumMs: 0 });
  });
});

const bounds: CanaryBounds = {
  minRequests: 10,
  maxErrorRateIncrease: 0.01,
  maxLatencyRatio: 2,
  maxQualityDrop: 0.02,
  minLabels: 5,
};

describe('judgeCanary', () => {
  const healthy = { requests: 100, errors: 0, latencySumMs: 300 };
  it('passes a canary as good as production', () => {
    expect(judgeCanary(healthy, { ...healthy, requests: 400, latencySumMs: 1200 }, undefined, bounds)).toSatisfy(
      (checks: { passed: boolean }[]) => checks.every((c) => c.passed),
    );
  });
  it('fails on too few requests, more errors, slower answers, each naming both values and the bound', () => {
    const checks = judgeCanary({ requests: 8, errors: 2, latencySumMs: 80 }, healthy, undefined, bounds);
    const failed = Object.fromEntries(checks.filter((c) => !c.passed).map((c) => [c.metric, c.detail]));
    expect(failed.requests).toBe('canary served 8 requests (min 10)');
    expect(failed.errorRate).toMatch(
      /canary error rate 0\.25 \(2\/8\) vs production 0 \(0\/100\): increase 0\.25, max 0\.01/,
    );
    expect(failed.latency).toMatch(/canary mean latency 10 ms vs production 3 ms \(ratio 3\.3333, max 2\)/);
  });
  it('floors sub-millisecond latencies so timer noise cannot fail a canary', () => {
    const checks = judgeCanary(
      { requests: 10, errors: 0, latencySumMs: 3 },
      { ...healthy, latencySumMs: 10 },
      undefined,
      bounds,
    );
    expect(checks.find((c) => c.metric === 'latency')).toMatchObject({ value: 1, passed: true });
  });
  it('compares quality only with enough labels on both arms', () => {
    const quality = {
      metric: 'auc' as const,
      canary: { labelled: 50, value: 0.4 },
      production: { labelled: 50, value: 0.7 },
    };
    const q = judgeCanary(healthy, healthy, quality, bounds).find((c) => c.metric === 'quality');
    expect(q).toMatchObject({ passed: false, bound: 0.02 });
    expect(q!.value).toBeCloseTo(0.3, 10);
    const few = { ...quality, canary: { labelled: 4, value: 0.4 } };
    expect(judgeCanary(healthy, healthy, few, bounds).find((c) => c.metric === 'quality')).toBeUndefined();
  });
});

const pred = (id: string, role: PredictionRecord['role'], version: number, score: number): PredictionRecord => ({
  id,
  ts: 1,
  model: 'm',
  version,
  role,
  features: {},
  score,
  label: score >= 0.5 ? '1' : '0',
});

describe('measureQuality', () => {
  it('joins predictions with feedback by id and scores each arm (AUC for binary)', () => {
    const predictions = [
      pred('a', 'production', 1, 0.9),
      pred('b', 'production', 1, 0.1),
      pred('c', 'canary', 2, 0.2),
      pred('d', 'canary', 2, 0.8),
      pred('e', 'canary', 2, 0.7), // no feedback
    ];
    const feedback = ['a', 'c'].map((id) => ({ id, ts: 1, model: 'm', label: 1 }));
    feedback.push(...['b', 'd'].map((id) => ({ id, ts: 1, model: 'm', label: 0 })));
    const q = measureQuality({
      predictions,
      feedback,
      canaryVersion: 2,
      productionVersion: 1,
      task: 'binary',
      positiveClass: '1',
    })!;
    expect(q).toEqual({ metric: 'auc', canary: { labelled: 2, value: 0 }, production: { labelled: 2, value: 1 } });
    const acc = measureQuality({
      predictions,
      feedback,
      canaryVersion: 2,
      productionVersion: 1,
      task: 'binary',
      positiveClass: '1',
      metric: 'accuracy',
    })!;
    expect([acc.canary.value, acc.production.value]).toEqual([0, 1]);
  });
});

describe('judgeShadow', () => {
  it('pairs production and shadow scores by request id and counts agreement of predicted labels', () => {
    const records = [
      pred('a', 'production', 1, 0.9),
      pred('a', 'shadow', 2, 0.8),
      pred('b', 'production', 1, 0.2),
      pred('b', 'shadow', 2, 0.6), // disagrees
      pred('c', 'shadow', 2, 0.6), // production answer not logged: not a pair
    ];
    const none = { requests: 2, errors: 0, latencySumMs: 2 };
    const judged = judgeShadow(records, 2, 1, none, none, {
      minCompared: 2,
      minAgreement: 0.9,
      tolerance: 0.1,
      maxErrorRateIncrease: 0.01,
    });
    expect(judged).toMatchObject({ compared: 2, agreement: 0.5 });
    expect(judged.checks.filter((c) => !c.passed).map((c) => c.metric)).toEqual(['agreement']);
  });
});

describe('smoke sample', () => {
  const table = tableFromColumns([
    numericColumn('x', [0.5, NaN, 2, 3, 4]),
    categoricalColumn('c', ['a', 'b', null, 'a', 'b']),
    numericColumn('y', [0, 1, 0, 1, 1]),
  ]);
  const scores = {
    kind: 'classification' as const,
    numClasses: 2,
    probabilities: Float64Array.from([0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4, 0.5, 0.5]),
    labels: Int32Array.from([0, 0, 0, 0, 0]),
  };
  const sample = buildSmokeSample({
    table,
    scores,
    features: [
      { name: 'x', kind: 'numeric' },
      { name: 'c', kind: 'categorical' },
    ],
    task: 'binary',
    classes: ['0', '1'],
    model: { uri: 's3://b/m.onnx', sha256: 'f'.repeat(64) },
    count: 3,
  });

  it('takes rows spread over the holdout with their model inputs and evaluated probabilities', () => {
    expect(sample.rows).toEqual([
      { row: 0, features: { x: 0.5, c: 'a' }, expected: [0.9, 0.1] },
      { row: 2, features: { x: 2, c: null }, expected: [0.7, 0.3] },
      { row: 4, features: { x: 4, c: 'b' }, expected: [0.5, 0.5] },
    ]);
  });

  it('becomes OIP v2 tensors, and an answer is compared row by row', () => {
    expect(smokeInputs(sample)).toEqual([
      { name: 'x', datatype: 'FP64', shape: [3, 1], data: [0.5, 2, 4] },
      { name: 'c', datatype: 'BYTES', shape: [3, 1], data: ['a', null, 'b'] },
    ]);
    const served = scoresFromOutputs(
      [
        { name: 'label', data: [0, 0, 0] },
        { name: 'probabilities', data: [0.9, 0.1, 0.7, 0.3, 0.5, 0.5] },
      ],
      sample,
    );
    expect(compareSmokeScores(sample, served, 1e-6)).toEqual({ maxAbsDiff: 0, mismatch: undefined });
    served[1] = [0.69, 0.31];
    const { mismatch } = compareSmokeScores(sample, served, 1e-6);
    expect(mismatch).toEqual({ index: 1, row: 2, output: 0, expected: 0.7, served: 0.69 });
    expect(() => scoresFromOutputs([{ name: 'probabilities', data: [1] }], sample)).toThrow(
      'output "probabilities" has 1 values, expected 3 rows x 2',
    );
  });
});
