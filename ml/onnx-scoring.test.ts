import { describe, expect, it } from 'vitest';
import { maxAbsDiff } from './fixtures/onnx-runtime';
import { binaryDataset, corruptForScoring, multiclassDataset, regressionDataset } from './fixtures/synthetic';
import { trainGbdtSync } from './gbdt';
import { exportGbdtToOnnx } from './onnx-export';
import { OnnxModel, OnnxModelError, positiveProbabilities, scoreOnnx } from './onnx-scoring';
import { FeatureMismatchError, predict, predictPositive } from './predict';
import { numericColumn, selectColumns, tableFromColumns, withColumn } from './table';

describe('scoreOnnx: onnxruntime on the exported file agrees with ml/predict', () => {
  const binary = trainGbdtSync(binaryDataset(3000), { objective: 'binary', label: 'y', numTrees: 20 });

  it('binary, in batches, with missing and unseen values', async () => {
    const table = corruptForScoring(binaryDataset(2500, 11), 'y');
    const batches: number[] = [];
    const scores = await scoreOnnx(exportGbdtToOnnx(binary), table, {
      batchSize: 1000,
      onBatch: (done) => void batches.push(done),
    });
    expect(batches).toEqual([1000, 2000, 2500]);
    const ours = predict(binary, table);
    if (scores.kind !== 'classification' || ours.kind !== 'classification') throw new Error('expected classifiers');
    expect(scores.numClasses).toBe(2);
    expect(maxAbsDiff(scores.probabilities, ours.probabilities)).toBeLessThanOrEqual(1e-5);
    expect(Array.from(scores.labels)).toEqual(Array.from(ours.labels));
    expect(maxAbsDiff(positiveProbabilities(scores), predictPositive(binary, table))).toBeLessThanOrEqual(1e-5);
  });

  it('multiclass', async () => {
    const model = trainGbdtSync(multiclassDataset(3000), { objective: 'multiclass', label: 'y', numTrees: 10 });
    const table = corruptForScoring(multiclassDataset(2000, 12), 'y');
    const onnx = await OnnxModel.load(exportGbdtToOnnx(model));
    try {
      expect(onnx.task).toBe('multiclass');
      expect(onnx.classes).toEqual(['q0', 'q1', 'q2', 'q3']);
      const scores = await onnx.score(table, { batchSize: 777 });
      const ours = predict(model, table);
      if (scores.kind !== 'classification' || ours.kind !== 'classification') throw new Error('expected classifiers');
      expect(scores.numClasses).toBe(4);
      expect(maxAbsDiff(scores.probabilities, ours.probabilities)).toBeLessThanOrEqual(1e-5);
      expect(Array.from(scores.labels)).toEqual(Array.from(ours.labels));
    } finally {
      await onnx.release();
    }
  });

  it('regression', async () => {
    const model = trainGbdtSync(regressionDataset(3000), { objective: 'regression', label: 'y', numTrees: 20 });
    const table = regressionDataset(1500, 13);
    const scores = await scoreOnnx(exportGbdtToOnnx(model), table);
    const ours = predict(model, table);
    if (scores.kind !== 'regression' || ours.kind !== 'regression') throw new Error('expected regressors');
    expect(maxAbsDiff(scores.values, ours.values)).toBeLessThanOrEqual(1e-5);
  });

  it('reads features, task, classes and the model card from the file', async () => {
    const card = { name: 'tiny', features: ['x1', 'x2', 'x3', 'city'], importance: { x1: 3 } };
    const onnx = await OnnxModel.load(exportGbdtToOnnx(binary, { modelCard: card }));
    try {
      expect(onnx.features).toEqual([
        { name: 'x1', kind: 'numeric' },
        { name: 'x2', kind: 'numeric' },
        { name: 'x3', kind: 'numeric' },
        { name: 'city', kind: 'categorical' },
      ]);
      expect(onnx.task).toBe('binary');
      expect(onnx.classes).toEqual(['0', '1']);
      expect(onnx.modelCard).toEqual(card);
    } finally {
      await onnx.release();
    }
  });

  it('scores zero rows', async () => {
    const table = selectColumns(binaryDataset(0), ['x1', 'x2', 'x3', 'city']);
    const scores = await scoreOnnx(exportGbdtToOnnx(binary), table);
    expect(scores).toMatchObject({ kind: 'classification', numClasses: 2 });
    if (scores.kind === 'classification') expect(scores.probabilities.length).toBe(0);
  });

  it('feeds a numeric column to a categorical input as decimal strings', async () => {
    const data = tableFromColumns([
      numericColumn(
        'code',
        Array.from({ length: 600 }, (_, i) => i % 3),
      ),
      numericColumn(
        'y',
        Array.from({ length: 600 }, (_, i) => (i % 3 === 1 ? 1 : 0)),
      ),
    ]);
    const asCategory = withColumn(data, {
      kind: 'categorical',
      name: 'code',
      codes: Int32Array.from({ length: 600 }, (_, i) => i % 3),
      dictionary: ['0', '1', '2'],
    });
    const model = trainGbdtSync(asCategory, { objective: 'binary', label: 'y', numTrees: 3, minDataInLeaf: 5 });
    const viaNumbers = await scoreOnnx(exportGbdtToOnnx(model), data);
    const viaStrings = await scoreOnnx(exportGbdtToOnnx(model), asCategory);
    if (viaNumbers.kind !== 'classification' || viaStrings.kind !== 'classification') throw new Error('classifiers');
    expect(Array.from(viaNumbers.probabilities)).toEqual(Array.from(viaStrings.probabilities));
  });

  it('names a missing feature column and refuses a categorical column for a numeric input', async () => {
    const bytes = exportGbdtToOnnx(binary);
    const table = binaryDataset(10);
    await expect(scoreOnnx(bytes, selectColumns(table, ['x1', 'x2', 'city']))).rejects.toThrow(
      'the data has no column "x3" that the model needs (have: x1, x2, city)',
    );
    const wrongKind = withColumn(table, {
      kind: 'categorical',
      name: 'x1',
      codes: new Int32Array(10),
      dictionary: ['a'],
    });
    await expect(scoreOnnx(bytes, wrongKind)).rejects.toThrow(FeatureMismatchError);
  });

  it('refuses a model card whose features disagree with the graph, and bytes that are not ONNX', async () => {
    const bytes = exportGbdtToOnnx(binary, { modelCard: { features: [{ name: 'x1' }, { name: 'origin' }] } });
    await expect(OnnxModel.load(bytes)).rejects.toThrow(
      'model card features disagree with the graph inputs; not inputs: origin; not in the card: x2, x3, city',
    );
    await expect(OnnxModel.load(new Uint8Array([1, 2, 3, 4, 5]))).rejects.toThrow(OnnxModelError);
  });

  it('stops between batches when aborted', async () => {
    const controller = new AbortController();
    const promise = scoreOnnx(exportGbdtToOnnx(binary), binaryDataset(500), {
      batchSize: 100,
      onBatch: (done) => {
        if (done === 200) controller.abort(new Error('cancelled'));
      },
      signal: controller.signal,
    });
    await expect(promise).rejects.toThrow('cancelled');
  });
});
