import { ApplicationFailure } from '@temporalio/common';
import { beforeAll, describe, expect, it } from 'vitest';
import { tableToArrow as tableToArrowBytes } from '../activities/data/arrow';
import type { EvaluateOutputs } from '../activities/steps/evaluate';
import { evaluate } from '../activities/steps/evaluate';
import type { StepContext } from '../activities/steps/types';
import { renderReportHtml } from '../activities/report/html';
import { compareMetrics, importanceFromCard, thinRoc, type EvaluationReport } from '../activities/report/report';
import {
  binaryMetrics,
  exportGbdtToOnnx,
  featureImportance,
  numericColumn,
  predictPositive,
  selectColumns,
  trainGbdtSync,
  withColumn,
  type GbdtModel,
  type Table,
} from '../ml';
import { binaryDataset, regressionDataset } from '../ml/fixtures/synthetic';
import { type ArtifactStore, type PutResult } from '../storage/artifact-store';
import { testS3, uniqueId } from './helpers';

/** An ml Table as Arrow IPC, written the way the ingest step writes datasets. */
const tableToArrow = (table: Table): Buffer => Buffer.from(tableToArrowBytes(table));

const modelCard = (model: GbdtModel, name = 'synthetic') => ({
  name,
  kind: 'gbdt',
  objective: model.objective,
  label: model.label,
  features: model.features,
  importance: featureImportance(model),
});

describe('evaluate step against real MinIO', () => {
  let store: ArtifactStore;
  const runId = uniqueId('evaluate');
  let strong: GbdtModel;
  let weak: GbdtModel;
  let strongRef: PutResult;
  let weakRef: PutResult;
  let holdout: Table;
  let holdoutRef: PutResult;
  const heartbeats: unknown[] = [];

  const context = (stepId: string): StepContext => ({
    task: { runId, pipeline: 'evaluate-test', stepId, uses: 'evaluate', with: {}, cache: false },
    attempt: 1,
    store,
    artifactPrefix: `runs/${runId}/${stepId}/attempt-1`,
    signal: new AbortController().signal,
    heartbeat: (d) => void heartbeats.push(d),
  });
  const run = (stepId: string, input: Record<string, unknown>) =>
    evaluate(
      { model: strongRef, dataset: holdoutRef, label: 'y', ...input },
      context(stepId),
    ) as Promise<EvaluateOutputs>;
  const failure = async (promise: Promise<unknown>): Promise<ApplicationFailure> => {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  };

  beforeAll(async () => {
    store = testS3().store;
    strong = trainGbdtSync(binaryDataset(3000), { objective: 'binary', label: 'y', numTrees: 30 });
    weak = trainGbdtSync(binaryDataset(3000), {
      objective: 'binary',
      label: 'y',
      numTrees: 2,
      numLeaves: 2,
      features: ['x2'],
    });
    strongRef = await store.put(
      `test/${runId}/strong.onnx`,
      Buffer.from(exportGbdtToOnnx(strong, { modelCard: modelCard(strong) })),
    );
    weakRef = await store.put(
      `test/${runId}/weak.onnx`,
      Buffer.from(exportGbdtToOnnx(weak, { modelCard: modelCard(weak, 'weak') })),
    );
    // A holdout with a few unlabelled rows, which evaluation skips (and reports).
    const data = binaryDataset(2000, 5);
    const y = Float64Array.from((data.columns.find((c) => c.name === 'y') as { values: Float64Array }).values);
    for (let i = 0; i < 2000; i += 250) y[i] = NaN;
    holdout = withColumn(data, numericColumn('y', y));
    holdoutRef = await store.put(`test/${runId}/holdout.arrow`, tableToArrow(holdout));
  });

  it('scores the ONNX file, computes the metrics, writes report.json and a self-contained report.html', async () => {
    const outputs = await run('pass', { gates: { auc: { min: 0.8 }, logLoss: { max: 0.7 } } });
    expect(outputs.passed).toBe(true);
    expect(outputs.champion).toBeNull();
    expect(Object.keys(outputs.metrics)).toEqual([
      'auc',
      'prAuc',
      'logLoss',
      'accuracy',
      'f1',
      'ece',
      'positiveRate',
      'count',
    ]);

    // The same numbers as ml/ on the labelled rows (ONNX Runtime's float32 leaves a few ulps).
    const labelled = holdout.columns.find((c) => c.name === 'y') as { values: Float64Array };
    const keep = Array.from(labelled.values.keys()).filter((i) => !Number.isNaN(labelled.values[i]));
    const expected = binaryMetrics(
      keep.map((i) => labelled.values[i]),
      Array.from(predictPositive(strong, holdout)).filter((_, i) => keep.includes(i)),
    );
    expect(outputs.metrics.count).toBe(1992);
    expect(outputs.metrics.auc).toBeCloseTo(expected.auc, 5);
    expect(outputs.metrics.logLoss).toBeCloseTo(expected.logLoss, 5);
    expect(outputs.metrics.accuracy).toBeCloseTo(expected.accuracy, 5);
    expect(outputs.metrics.auc!).toBeGreaterThan(0.9);
    expect(outputs.gates.map((g) => [g.gate, g.passed])).toEqual([
      ['auc', true],
      ['logLoss', true],
    ]);
    expect(Buffer.byteLength(JSON.stringify(outputs))).toBeLessThan(8 * 1024);
    expect(heartbeats.length).toBeGreaterThan(0);

    expect(outputs.report.json).toBe(store.uri(`runs/${runId}/pass/attempt-1/report.json`));
    const report = JSON.parse(
      (await store.get(`runs/${runId}/pass/attempt-1/report.json`)).toString(),
    ) as EvaluationReport;
    expect(report).toMatchObject({
      format: 'mlpipe.evaluation',
      passed: true,
      model: { uri: strongRef.uri, sha256: strongRef.sha256, name: 'synthetic', task: 'binary', classes: ['0', '1'] },
      dataset: { rows: 2000, scoredRows: 1992, unlabelledRows: 8, label: 'y' },
      threshold: 0.5,
      metrics: outputs.metrics,
    });
    expect(report.curves.roc!.fpr.length).toBeGreaterThan(10);
    expect(report.curves.roc!.fpr.length).toBeLessThanOrEqual(802);
    expect(report.curves.calibration!.length).toBeGreaterThan(2);
    expect(report.importance![0].feature).toBe(featureImportance(strong)[0].feature);

    const html = (await store.get(`runs/${runId}/pass/attempt-1/report.html`)).toString();
    expect(html).toMatch(/^<!doctype html>/);
    expect(html.match(/<svg /g)).toHaveLength(3); // ROC, calibration, importance
    expect(html).toContain('ROC curve');
    expect(html).toContain('Calibration');
    expect(html).toContain('Feature importance');
    // Self-contained: no scripts, stylesheets, images or fonts from elsewhere.
    expect(html).not.toMatch(/<script|<link|<img|@import|url\(|src=/i);
    expect(html.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, '')).not.toMatch(/https?:\/\//);
  });

  it('fails a missed gate with a non-retryable GateFailed naming metric, value and bound, and still writes the report', async () => {
    const err = await failure(
      run('fail', { gates: { auc: { min: 0.999 }, accuracy: { max: 0.5 }, f1: { min: 0.1 } } }),
    );
    expect(err.type).toBe('GateFailed');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(/^gate auc: 0\.9\d+ < min 0\.999; gate accuracy: 0\.\d+ > max 0\.5 \(report: s3:\/\//);
    expect(err.message).not.toContain('gate f1');
    const report = JSON.parse(
      (await store.get(`runs/${runId}/fail/attempt-1/report.json`)).toString(),
    ) as EvaluationReport;
    expect(report.passed).toBe(false);
    expect(report.gates.filter((g) => !g.passed).map((g) => g.gate)).toEqual(['auc', 'accuracy']);
    const html = (await store.get(`runs/${runId}/fail/attempt-1/report.html`)).toString();
    expect(html).toContain('badge fail');
  });

  it('vsChampion fails when the champion beats the candidate by more than maxDrop', async () => {
    const err = await failure(
      run('vs-champion', {
        model: weakRef,
        champion: strongRef,
        gates: { vsChampion: { metric: 'auc', maxDrop: 0.005 } },
      }),
    );
    expect(err.type).toBe('GateFailed');
    expect(err.message).toMatch(/^gate vsChampion auc: 0\.\d+ < champion 0\.9\d+ - maxDrop 0\.005/);
    const report = JSON.parse(
      (await store.get(`runs/${runId}/vs-champion/attempt-1/report.json`)).toString(),
    ) as EvaluationReport;
    expect(report.champion).toMatchObject({ uri: strongRef.uri, sha256: strongRef.sha256 });
    expect(report.comparison.find((c) => c.metric === 'auc')).toMatchObject({ candidateBetter: false });
    expect(report.curves.roc && report.champion?.curves?.roc).toBeTruthy();
  });

  it('passes vsChampion (logLoss flips direction) when the candidate is better, and reports both', async () => {
    const outputs = await run('vs-weak', {
      champion: weakRef,
      gates: { vsChampion: { metric: 'logLoss', maxDrop: 0 } },
    });
    expect(outputs.champion!.metrics!.auc!).toBeLessThan(outputs.metrics.auc!);
    expect(outputs.gates[0]).toMatchObject({ gate: 'vsChampion', metric: 'logLoss', passed: true });
    expect(outputs.gates[0].bound).toBe(outputs.champion!.metrics!.logLoss);
  });

  it('refuses a model whose sha256 differs from the reference, before loading it', async () => {
    const wrong = { uri: strongRef.uri, sha256: weakRef.sha256 };
    const err = await failure(run('sha', { model: wrong }));
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain(`sha256 is ${strongRef.sha256}, expected ${weakRef.sha256}`);
    expect(await store.exists(`runs/${runId}/sha/attempt-1/report.json`)).toBe(false);
    // The champion is checked the same way.
    const champion = await failure(run('sha-champion', { champion: { uri: weakRef.uri, sha256: strongRef.sha256 } }));
    expect(champion.message).toContain('expected');
  });

  it('records a champion that cannot be scored on this holdout; a vsChampion gate then fails', async () => {
    const other = trainGbdtSync(withColumn(binaryDataset(500), numericColumn('extra', new Float64Array(500))), {
      objective: 'binary',
      label: 'y',
      numTrees: 2,
    });
    const otherRef = await store.put(`test/${runId}/other.onnx`, Buffer.from(exportGbdtToOnnx(other)));
    const outputs = await run('champion-other', { champion: otherRef });
    expect(outputs.champion).toMatchObject({ metrics: null, error: expect.stringContaining('no column "extra"') });
    const err = await failure(
      run('champion-other-gate', { champion: otherRef, gates: { vsChampion: { metric: 'auc' } } }),
    );
    expect(err.message).toContain('gate vsChampion auc: the champion could not be scored on this data');
  });

  it('rejects gates on metrics the model does not have, and bad inputs, as StepInputInvalid', async () => {
    const gate = await failure(run('bad-gate', { gates: { rmse: { max: 1 } } }));
    expect(gate.type).toBe('StepInputInvalid');
    expect(gate.message).toContain('gate rmse: no metric "rmse" (have: auc, prAuc, logLoss');
    const input = await failure(run('bad-input', { threshold: 2, gates: { auc: {} } }));
    expect(input.type).toBe('StepInputInvalid');
    expect(input.message).toContain('with.threshold');
    expect(input.message).toContain('with.gates.auc');
  });

  it('refuses a holdout that lacks a feature or has unknown labels, as DataValidationFailed', async () => {
    const lacking = await store.put(
      `test/${runId}/lacking.arrow`,
      tableToArrow(selectColumns(holdout, ['x1', 'x2', 'y'])),
    );
    const missing = await failure(run('lacking', { dataset: lacking }));
    expect(missing.type).toBe('DataValidationFailed');
    expect(missing.message).toContain('no column "x3"');
    const y = Float64Array.from({ length: holdout.numRows }, (_, i) => (i === 3 ? 7 : i % 2));
    const odd = await store.put(`test/${runId}/odd.arrow`, tableToArrow(withColumn(holdout, numericColumn('y', y))));
    const labels = await failure(run('odd-labels', { dataset: odd }));
    expect(labels.type).toBe('DataValidationFailed');
    expect(labels.message).toContain('label "y" has values the model does not know: "7" (classes: 0, 1)');
  });

  it('evaluates a regressor (rmse, mae, r2) with the label from the model card', async () => {
    const model = trainGbdtSync(regressionDataset(2000), { objective: 'regression', label: 'y', numTrees: 20 });
    const ref = await store.put(
      `test/${runId}/reg.onnx`,
      Buffer.from(exportGbdtToOnnx(model, { modelCard: modelCard(model, 'reg') })),
    );
    const data = await store.put(`test/${runId}/reg.arrow`, tableToArrow(regressionDataset(800, 8)));
    const outputs = (await evaluate(
      { model: ref, dataset: data, gates: { r2: { min: 0.5 }, rmse: { max: 2 } } },
      context('regression'),
    )) as EvaluateOutputs;
    expect(Object.keys(outputs.metrics)).toEqual(['rmse', 'mae', 'r2', 'count']);
    expect(outputs.metrics.r2!).toBeGreaterThan(0.8);
    const html = (await store.get(`runs/${runId}/regression/attempt-1/report.html`)).toString();
    expect(html.match(/<svg /g)).toHaveLength(1); // importance only: no ROC or calibration for a regressor
  });
});

describe('report.html', () => {
  it('escapes what it shows and says when there are no gates or champion', () => {
    const report: EvaluationReport = {
      format: 'mlpipe.evaluation',
      version: 1,
      createdAt: '2024-01-01T00:00:00.000Z',
      run: { runId: 'r', pipeline: 'p', stepId: 's', attempt: 1 },
      model: {
        uri: 's3://b/m',
        sha256: 'a'.repeat(64),
        name: '<script>alert(1)</script>',
        task: 'multiclass',
        classes: ['a', 'b', 'c'],
        features: ['x'],
      },
      dataset: { uri: 's3://b/d', sha256: 'b'.repeat(64), rows: 10, scoredRows: 10, unlabelledRows: 0, label: 'y' },
      threshold: null,
      metrics: { accuracy: 0.5, macroF1: null, logLoss: 1.1, count: 10 },
      curves: {},
      champion: null,
      comparison: [],
      gates: [],
      passed: true,
      importance: null,
    };
    const html = renderReportHtml(report);
    expect(html).not.toContain('<script>');
    expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(html).toContain('No gates were set');
    expect(html).toContain('No champion');
    expect(html).not.toContain('<svg');
  });
});

describe('report helpers', () => {
  it('reads importance from the card as a list, a map, or under metrics; none gives null', () => {
    const list = importanceFromCard({
      importance: [
        { feature: 'a', importance: 1 },
        { feature: 'b', importance: 3 },
      ],
    });
    expect(list).toEqual([
      { feature: 'b', importance: 3, share: 0.75 },
      { feature: 'a', importance: 1, share: 0.25 },
    ]);
    expect(importanceFromCard({ metrics: { importance: { a: 1, b: 3 } } })).toEqual(list);
    expect(importanceFromCard({ metrics: { auc: 0.7 } })).toBeNull();
    expect(importanceFromCard(null)).toBeNull();
  });

  it('compares metrics direction-aware and leaves count out', () => {
    expect(compareMetrics({ auc: 0.8, logLoss: 0.4, count: 5 }, { auc: 0.7, logLoss: 0.3, count: 5 })).toEqual([
      { metric: 'auc', candidate: 0.8, champion: 0.7, delta: expect.closeTo(0.1, 12), candidateBetter: true },
      { metric: 'logLoss', candidate: 0.4, champion: 0.3, delta: expect.closeTo(0.1, 12), candidateBetter: false },
    ]);
  });

  it('thins a ROC curve of many thresholds to a few hundred points, keeping both ends', () => {
    const n = 20_000;
    const labels = Float64Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const scores = Float64Array.from({ length: n }, (_, i) => ((i * 7919) % n) / n);
    const roc = thinRoc(labels, scores);
    expect(roc.fpr.length).toBeLessThanOrEqual(802);
    expect([roc.fpr[0], roc.tpr[0]]).toEqual([0, 0]);
    expect([roc.fpr.at(-1), roc.tpr.at(-1)]).toEqual([1, 1]);
  });
});
