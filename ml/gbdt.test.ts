import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { binaryDataset, categoricalDataset, multiclassDataset, regressionDataset } from './fixtures/synthetic';
import {
  GbdtModel,
  trainGbdt,
  type GbdtModelJSON,
  trainGbdtSync,
  TrainingInputError,
  type IterationProgress,
} from './gbdt';
import { auc, multiclassAccuracy, r2Score } from './metrics';
import { exportGbdtToOnnx } from './onnx-export';
import { predictPositive, predictProbabilities, predictRaw, predictValues } from './predict';
import { getColumn, sliceRows, tableFromRows, type Table } from './table';

const labelsOf = (table: Table, name: string): Float64Array => {
  const column = getColumn(table, name);
  return column.kind === 'numeric' ? column.values : Float64Array.from(column.codes);
};

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe('GBDT learns known rules', () => {
  const data = binaryDataset(12_000);
  const train = sliceRows(data, 0, 10_000);
  const valid = sliceRows(data, 10_000);
  const progress: Omit<IterationProgress, 'checkpoint'>[] = [];
  const model = trainGbdtSync(train, {
    objective: 'binary',
    label: 'y',
    numTrees: 60,
    valid,
    onIteration: (p) => void progress.push(p),
  });

  it('separates a binary rule (AUC > 0.95) and reports progress', () => {
    expect(auc(labelsOf(valid, 'y'), predictPositive(model, valid))).toBeGreaterThan(0.95);
    expect(progress).toHaveLength(60);
    expect(progress[59].iteration).toBe(60);
    expect(progress[59].trainLoss).toBeLessThan(progress[0].trainLoss);
    expect(progress[59].validMetric).toBeLessThan(progress[0].validMetric!);
    expect(progress[0].metric).toBe('logloss');
  });

  it('routes missing values the way the data says (x3 missing => positive)', () => {
    const probe = tableFromRows(
      [
        { x1: 0.1, x2: 0.1, x3: null, city: 'ams' },
        { x1: 0.1, x2: 0.1, x3: 0.3, city: 'ams' },
        { x1: 0.1, x2: 0.1, x3: 0.95, city: 'ams' },
      ],
      { x3: 'numeric' },
    );
    const [missing, low, high] = predictPositive(model, probe);
    expect(missing).toBeGreaterThan(0.8);
    expect(low).toBeLessThan(0.2);
    expect(high).toBeGreaterThan(0.8);
  });

  it('solves a categorical-only problem with set splits', () => {
    const cats = categoricalDataset(4000);
    const m = trainGbdtSync(cats, { objective: 'binary', label: 'y', numTrees: 10 });
    // One split separates the two halves of the cities.
    const root = m.trees[0];
    expect(root.categories[0]).not.toBeNull();
    expect(root.categories[0]!.length).toBe(6);
    const cities = ['ams', 'ber', 'cdg', 'dub', 'ewr', 'fra', 'gva', 'hel', 'ist', 'jfk', 'kef', 'lhr'];
    const p = predictPositive(m, tableFromRows(cities.map((city) => ({ city }))));
    const positive = new Set(['ams', 'cdg', 'ewr', 'hel', 'jfk', 'lhr']);
    cities.forEach((city, i) => expect(p[i] > 0.5).toBe(positive.has(city)));
    // A category never seen in training goes right like a missing one.
    const [unseen, missing] = predictPositive(
      m,
      tableFromRows([{ city: 'zzz' }, { city: null }], { city: 'categorical' }),
    );
    expect(unseen).toBe(missing);
  });

  it('classifies four classes', () => {
    const multi = multiclassDataset(8000);
    const m = trainGbdtSync(sliceRows(multi, 0, 6000), { objective: 'multiclass', label: 'y', numTrees: 30 });
    const test = sliceRows(multi, 6000);
    expect(m.classes).toEqual(['q0', 'q1', 'q2', 'q3']);
    expect(m.trees).toHaveLength(30 * 4);
    expect(multiclassAccuracy(labelsOf(test, 'y'), predictProbabilities(m, test), 4)).toBeGreaterThan(0.93);
  });

  it('fits a smooth regression (R² > 0.97)', () => {
    const reg = regressionDataset(8000);
    const m = trainGbdtSync(sliceRows(reg, 0, 6000), { objective: 'regression', label: 'y', numTrees: 100 });
    const test = sliceRows(reg, 6000);
    expect(r2Score(labelsOf(test, 'y'), predictValues(m, test))).toBeGreaterThan(0.97);
  });
});

describe('GBDT determinism and resume', () => {
  const data = binaryDataset(4000, 7);
  const params = {
    objective: 'binary' as const,
    label: 'y',
    numLeaves: 15,
    baggingFraction: 0.7,
    featureFraction: 0.75,
    minDataInLeaf: 10,
  };

  it('gives identical model JSON and ONNX bytes for the same seed, different ones for another seed', () => {
    const a = trainGbdtSync(data, { ...params, numTrees: 15, seed: 3 });
    const b = trainGbdtSync(data, { ...params, numTrees: 15, seed: 3 });
    const c = trainGbdtSync(data, { ...params, numTrees: 15, seed: 4 });
    expect(JSON.stringify(a) === JSON.stringify(b)).toBe(true);
    expect(sha256(exportGbdtToOnnx(a))).toBe(sha256(exportGbdtToOnnx(b)));
    expect(JSON.stringify(a) === JSON.stringify(c)).toBe(false);
    expect(sha256(exportGbdtToOnnx(a))).not.toBe(sha256(exportGbdtToOnnx(c)));
  });

  it('gives the same model on one thread and on two (large leaves in halves, one on a helper thread)', async () => {
    const large = binaryDataset(70_000, 8);
    const options = { ...params, numTrees: 4, seed: 3 };
    const one = trainGbdtSync(large, { ...options, threads: 1 });
    const two = await trainGbdt(large, { ...options, threads: 2 });
    expect(JSON.stringify(two) === JSON.stringify(one)).toBe(true);
  });

  it('resumes from a 10-tree checkpoint to the same 20-tree model as an uninterrupted run', () => {
    const full = trainGbdtSync(data, { ...params, numTrees: 20, seed: 11 });
    const first = trainGbdtSync(data, { ...params, numTrees: 10, seed: 11 });
    const checkpoint = JSON.parse(JSON.stringify(first.toJSON()));
    const resumed = trainGbdtSync(data, { ...params, numTrees: 20, seed: 11, initModel: checkpoint });
    expect(resumed.numIterations).toBe(20);
    expect(JSON.stringify(resumed.trees) === JSON.stringify(full.trees)).toBe(true);
    expect(predictRaw(resumed, data)).toEqual(predictRaw(full, data));
  });

  it('hands out checkpoints during training that equal a shorter run', () => {
    let atTen: GbdtModelJSON | undefined;
    trainGbdtSync(data, {
      ...params,
      numTrees: 12,
      seed: 11,
      onIteration: (p) => {
        if (p.iteration === 10) atTen = p.checkpoint();
      },
    });
    const ten = trainGbdtSync(data, { ...params, numTrees: 10, seed: 11 });
    // Everything but the planned number of trees in params.
    expect(JSON.stringify({ ...atTen, params: null }) === JSON.stringify({ ...ten.toJSON(), params: null })).toBe(true);
  });

  it('round-trips through JSON and rejects malformed JSON', () => {
    const model = trainGbdtSync(data, { ...params, numTrees: 5 });
    const copy = GbdtModel.fromJSON(JSON.parse(JSON.stringify(model)));
    expect(predictRaw(copy, data)).toEqual(predictRaw(model, data));
    expect(() => GbdtModel.fromJSON({ format: 'mlpipe.gbdt', version: 2 })).toThrow();
  });
});

describe('GBDT training control', () => {
  const data = binaryDataset(3000, 5);
  const train = sliceRows(data, 0, 2000);
  const valid = sliceRows(data, 2000);

  it('stops early and keeps the trees up to the best iteration', () => {
    const model = trainGbdtSync(train, {
      objective: 'binary',
      label: 'y',
      valid,
      numTrees: 400,
      learningRate: 0.5,
      earlyStoppingRounds: 5,
    });
    expect(model.bestIteration).not.toBeNull();
    expect(model.numIterations).toBe(model.bestIteration);
    expect(model.numIterations).toBeLessThan(395);
  });

  it('watches AUC when asked', () => {
    const seen: number[] = [];
    trainGbdtSync(train, {
      objective: 'binary',
      label: 'y',
      valid,
      numTrees: 3,
      metric: 'auc',
      onIteration: (p) => void seen.push(p.validMetric!),
    });
    expect(seen.every((m) => m > 0.9 && m <= 1)).toBe(true);
  });

  it('yields between iterations and stops when the signal aborts', async () => {
    const controller = new AbortController();
    const iterations: number[] = [];
    const training = trainGbdt(train, {
      objective: 'binary',
      label: 'y',
      numTrees: 100,
      signal: controller.signal,
      onIteration: async ({ iteration }) => {
        iterations.push(iteration);
        if (iteration === 3) controller.abort(new Error('cancelled'));
      },
    });
    await expect(training).rejects.toThrow('cancelled');
    expect(iterations).toEqual([1, 2, 3]);
  });

  it('rejects unusable inputs with readable errors', () => {
    expect(() => trainGbdtSync(train, { objective: 'binary', label: 'x1' })).toThrow(TrainingInputError);
    expect(() => trainGbdtSync(train, { objective: 'binary', label: 'nope' })).toThrow(/no column "nope"/);
    expect(() => trainGbdtSync(train, { objective: 'regression', label: 'y', metric: 'auc' })).toThrow(
      /does not apply/,
    );
    expect(() => trainGbdtSync(train, { objective: 'binary', label: 'y', numLeaves: 1 })).toThrow();
  });
});
