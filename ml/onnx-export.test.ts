import { onnx } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { FLOAT32_MAX } from './binning';
import { maxAbsDiff, runOnnx } from './fixtures/onnx-runtime';
import { binaryDataset, corruptForScoring, multiclassDataset, regressionDataset } from './fixtures/synthetic';
import { GbdtModel, trainGbdtSync, type GbdtModelJSON } from './gbdt';
import { CLASSES_METADATA_KEY, MODEL_CARD_METADATA_KEY, ONNX_ML_OPSET, readOnnxMetadata } from './onnx-builder';
import { exportGbdtToOnnx, OnnxExportError } from './onnx-export';
import { predict } from './predict';
import { tableFromRows, type Table } from './table';

/** TS predictions vs onnxruntime on the same rows: max |Δ| of probabilities (or values), label agreement. */
async function compare(model: GbdtModel, table: Table) {
  const outputs = await runOnnx(exportGbdtToOnnx(model), model.features, table);
  const ours = predict(model, table);
  if (ours.kind === 'regression') {
    expect(outputs.variable.dims).toEqual([table.numRows, 1]);
    return { maxDiff: maxAbsDiff(outputs.variable.data as Float32Array, ours.values), labelsEqual: true };
  }
  expect(outputs.probabilities.dims).toEqual([table.numRows, ours.numClasses]);
  expect(outputs.label.dims).toEqual([table.numRows]);
  const labels = Array.from(outputs.label.data as BigInt64Array, Number);
  return {
    maxDiff: maxAbsDiff(outputs.probabilities.data as Float32Array, ours.probabilities),
    labelsEqual: labels.every((l, i) => l === ours.labels[i]),
  };
}

describe('ONNX export parity with onnxruntime-node (10,000 rows, missing and unseen values)', () => {
  it('binary', async () => {
    const model = trainGbdtSync(binaryDataset(8000), { objective: 'binary', label: 'y', numTrees: 60 });
    const { maxDiff, labelsEqual } = await compare(model, corruptForScoring(binaryDataset(10_000, 21), 'y'));
    expect(maxDiff).toBeLessThanOrEqual(1e-5);
    expect(labelsEqual).toBe(true);
  });

  it('multiclass', async () => {
    const model = trainGbdtSync(multiclassDataset(6000), { objective: 'multiclass', label: 'y', numTrees: 25 });
    const { maxDiff, labelsEqual } = await compare(model, corruptForScoring(multiclassDataset(10_000, 22), 'y'));
    expect(maxDiff).toBeLessThanOrEqual(1e-5);
    expect(labelsEqual).toBe(true);
  });

  it('regression (float32 sums: relative error)', async () => {
    const model = trainGbdtSync(regressionDataset(6000), { objective: 'regression', label: 'y', numTrees: 60 });
    const { maxDiff } = await compare(model, corruptForScoring(regressionDataset(10_000, 23), 'y'));
    // Targets are O(5): float32 addition of 60 trees leaves a few ulps.
    expect(maxDiff).toBeLessThanOrEqual(1e-5);
  });

  it('edge cases: single-leaf trees, a missing-vs-present split, values on the threshold', async () => {
    const json: GbdtModelJSON = {
      format: 'mlpipe.gbdt',
      version: 1,
      objective: 'binary',
      numOutputs: 1,
      classes: ['no', 'yes'],
      label: 'y',
      features: [
        { name: 'x', kind: 'numeric' },
        { name: 'c', kind: 'categorical', categories: ['a', 'b', 'c'] },
      ],
      binMappers: [
        { kind: 'numeric', thresholds: [Math.fround(0.1)] },
        { kind: 'categorical', categories: [0, 1, 2] },
      ],
      baseScore: [Math.fround(-0.25)],
      trees: [
        // x present → left (−1), missing → right (+1).
        {
          feature: [0, 1],
          threshold: [FLOAT32_MAX, 0],
          defaultLeft: [false, false],
          categories: [null, [0, 2]],
          left: [1, -1],
          right: [-3, -2],
          gain: [1, 1],
          count: [10, 5],
          leafValue: [-1, 0.5, 1],
          leafCount: [3, 2, 5],
        },
        {
          feature: [0],
          threshold: [Math.fround(0.1)],
          defaultLeft: [true],
          categories: [null],
          left: [-1],
          right: [-2],
          gain: [1],
          count: [10],
          leafValue: [0.25, -0.25],
          leafCount: [5, 5],
        },
        { ...emptyTree(), leafValue: [Math.fround(0.3)], leafCount: [10] },
      ],
      params: { objective: 'binary' } as GbdtModelJSON['params'],
      bestIteration: null,
      bestValidMetric: null,
    };
    const model = GbdtModel.fromJSON({ ...json, params: { ...json.params } });
    const rows = [0.1, 0.1 + 1e-9, Math.fround(0.1), 0.09999999, -1e30, 1e30, null].flatMap((x) =>
      ['a', 'b', 'c', 'zzz', null].map((c) => ({ x, c })),
    );
    const table = tableFromRows(rows, { x: 'numeric', c: 'categorical' });
    const { maxDiff, labelsEqual } = await compare(model, table);
    expect(maxDiff).toBeLessThanOrEqual(1e-6);
    expect(labelsEqual).toBe(true);
  });
});

function emptyTree() {
  return {
    feature: [],
    threshold: [],
    defaultLeft: [],
    categories: [],
    left: [],
    right: [],
    gain: [],
    count: [],
    leafValue: [],
    leafCount: [],
  };
}

describe('ONNX model file', () => {
  const model = trainGbdtSync(binaryDataset(2000), { objective: 'binary', label: 'y', numTrees: 5 });

  it('declares the opsets, inputs and outputs the serving side expects', () => {
    const decoded = onnx.ModelProto.decode(exportGbdtToOnnx(model));
    expect(Number(decoded.irVersion)).toBe(10);
    expect(decoded.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([
      ['', 21],
      ['ai.onnx.ml', ONNX_ML_OPSET],
    ]);
    const graph = decoded.graph!;
    expect(graph.input!.map((i) => i.name)).toEqual(['x1', 'x2', 'x3', 'city']);
    expect(graph.output!.map((o) => o.name)).toEqual(['label', 'probabilities']);
    expect(graph.node!.map((n) => n.opType)).toEqual([
      'LabelEncoder',
      'Concat',
      'TreeEnsemble',
      'Add',
      'Sigmoid',
      'Sub',
      'Concat',
      'ArgMax',
    ]);
  });

  it('carries the model card and class names as metadata, and is byte-for-byte reproducible', () => {
    const card = { name: 'synthetic', metrics: { auc: 0.97 } };
    const bytes = exportGbdtToOnnx(model, { modelCard: card });
    expect(JSON.parse(readOnnxMetadata(bytes)[MODEL_CARD_METADATA_KEY])).toEqual(card);
    expect(JSON.parse(readOnnxMetadata(bytes)[CLASSES_METADATA_KEY])).toEqual(['0', '1']);
    expect(Buffer.from(exportGbdtToOnnx(model, { modelCard: card })).equals(Buffer.from(bytes))).toBe(true);
  });

  it('refuses feature names that collide with the graph', () => {
    const data = tableFromRows(
      Array.from({ length: 200 }, (_, i) => ({ label: i % 7, probabilities: i % 3, y: i % 2 })),
    );
    const bad = trainGbdtSync(data, { objective: 'binary', label: 'y', numTrees: 2, minDataInLeaf: 5 });
    expect(() => exportGbdtToOnnx(bad)).toThrow(OnnxExportError);
  });
});
