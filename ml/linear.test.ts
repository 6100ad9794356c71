import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { maxAbsDiff, runOnnx } from './fixtures/onnx-runtime';
import { binaryDataset, corruptForScoring, multiclassDataset, regressionDataset } from './fixtures/synthetic';
import { LinearModel, predictLinear, trainLinear } from './linear';
import { auc, multiclassAccuracy, r2Score } from './metrics';
import { exportLinearToOnnx } from './onnx-export';
import { categoricalColumn, getColumn, numericColumn, sliceRows, tableFromColumns, type Table } from './table';
import { createRng } from './random';

const labelsOf = (table: Table, name: string): Float64Array => {
  const column = getColumn(table, name);
  return column.kind === 'numeric' ? column.values : Float64Array.from(column.codes);
};

/** y = 1 iff 2·a − b + effect(city) + noise > 0: a problem a linear model can solve. */
function linearBinary(n: number, seed: number): Table {
  const rng = createRng(seed);
  const effect: Record<string, number> = { ams: 1.5, ber: -1.5, cdg: 0 };
  const a: number[] = [];
  const b: number[] = [];
  const city: (string | null)[] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    a.push(rng.next() * 4 - 2);
    b.push(rng.next() < 0.1 ? NaN : rng.next() * 10);
    city.push(['ams', 'ber', 'cdg'][rng.nextInt(3)]);
    const z = 2 * a[i] - 0.4 * (Number.isNaN(b[i]) ? 5 : b[i]) + 2 + effect[city[i]!] + (rng.next() - 0.5);
    y.push(z > 0 ? 1 : 0);
  }
  return tableFromColumns([
    numericColumn('a', a),
    numericColumn('b', b),
    categoricalColumn('city', city),
    numericColumn('y', y),
  ]);
}

async function parity(model: LinearModel, table: Table) {
  const outputs = await runOnnx(exportLinearToOnnx(model), model.features, table);
  const ours = predictLinear(model, table);
  if (ours.kind === 'regression') return maxAbsDiff(outputs.variable.data as Float32Array, ours.values);
  const labels = Array.from(outputs.label.data as BigInt64Array, Number);
  expect(labels.every((l, i) => l === ours.labels[i])).toBe(true);
  return maxAbsDiff(outputs.probabilities.data as Float32Array, ours.probabilities);
}

describe('linear models', () => {
  it('logistic regression learns a linear rule and matches onnxruntime', async () => {
    const data = linearBinary(6000, 1);
    const model = trainLinear(sliceRows(data, 0, 5000), { objective: 'binary', label: 'y' });
    const test = sliceRows(data, 5000);
    expect(model.converged).toBe(true);
    const p = predictLinear(model, test);
    if (p.kind !== 'classification') throw new Error('expected classification');
    expect(
      auc(
        labelsOf(test, 'y'),
        p.probabilities.filter((_, i) => i % 2 === 1),
      ),
    ).toBeGreaterThan(0.97);
    expect(await parity(model, corruptForScoring(linearBinary(10_000, 2), 'y'))).toBeLessThanOrEqual(1e-5);
  });

  it('softmax regression on four classes matches onnxruntime', async () => {
    const data = multiclassDataset(5000);
    const model = trainLinear(sliceRows(data, 0, 4000), { objective: 'multiclass', label: 'y' });
    const test = sliceRows(data, 4000);
    const p = predictLinear(model, test);
    if (p.kind !== 'classification') throw new Error('expected classification');
    expect(multiclassAccuracy(labelsOf(test, 'y'), p.probabilities, 4)).toBeGreaterThan(0.8);
    expect(await parity(model, corruptForScoring(multiclassDataset(10_000, 5), 'y'))).toBeLessThanOrEqual(1e-5);
  });

  it('least squares explains most of a partly linear target and matches onnxruntime', async () => {
    const data = regressionDataset(5000);
    const model = trainLinear(sliceRows(data, 0, 4000), { objective: 'regression', label: 'y' });
    const test = sliceRows(data, 4000);
    const p = predictLinear(model, test);
    if (p.kind !== 'regression') throw new Error('expected regression');
    expect(r2Score(labelsOf(test, 'y'), p.values)).toBeGreaterThan(0.5);
    expect(await parity(model, corruptForScoring(regressionDataset(10_000, 6), 'y'))).toBeLessThanOrEqual(1e-5);
  });

  it('is deterministic and round-trips through JSON', () => {
    const data = binaryDataset(2000);
    const a = trainLinear(data, { objective: 'binary', label: 'y' });
    const b = trainLinear(data, { objective: 'binary', label: 'y' });
    const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
    expect(sha(exportLinearToOnnx(a))).toBe(sha(exportLinearToOnnx(b)));
    const copy = LinearModel.fromJSON(JSON.parse(JSON.stringify(a)));
    expect(predictLinear(copy, data)).toEqual(predictLinear(a, data));
  });
});
