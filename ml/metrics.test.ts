import { describe, expect, it } from 'vitest';
import {
  accuracy,
  auc,
  averagePrecision,
  binaryMetrics,
  calibrationCurve,
  expectedCalibrationError,
  f1Score,
  featureImportance,
  logLoss,
  mae,
  macroF1,
  multiclassAccuracy,
  multiclassLogLoss,
  r2Score,
  rmse,
  rocCurve,
} from './metrics';

describe('binary metrics on hand-computed examples', () => {
  it('AUC counts tied pairs as one half', () => {
    // Positives score 0.5, 0.9, 0.5; negatives 0.1, 0.5, 0.3: (2.5 + 3 + 2.5) / 9.
    expect(auc([0, 0, 1, 1, 0, 1], [0.1, 0.5, 0.5, 0.9, 0.3, 0.5])).toBeCloseTo(8 / 9, 12);
    expect(auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBeCloseTo(0.75, 12);
    expect(auc([1, 1, 0], [0.5, 0.5, 0.5])).toBeCloseTo(0.5, 12);
    expect(auc([1, 1], [0.1, 0.2])).toBeNaN();
  });

  it('average precision is the step-wise area under precision-recall, ties grouped', () => {
    expect(averagePrecision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])).toBeCloseTo(0.5 + 0.5 * (2 / 3), 12);
    expect(averagePrecision([1, 0, 1], [0.5, 0.5, 0.2])).toBeCloseTo(0.5 * 0.5 + 0.5 * (2 / 3), 12);
  });

  it('log loss, accuracy and F1 at a threshold', () => {
    expect(logLoss([1, 0], [0.8, 0.4])).toBeCloseTo(-(Math.log(0.8) + Math.log(0.6)) / 2, 12);
    expect(Number.isFinite(logLoss([1], [0]))).toBe(true);
    // Predictions 1, 0, 0, 1 against 1, 0, 1, 0.
    expect(accuracy([1, 0, 1, 0], [0.6, 0.4, 0.3, 0.5])).toBe(0.5);
    expect(f1Score([1, 0, 1, 0], [0.6, 0.4, 0.3, 0.5])).toBe(0.5);
    expect(f1Score([1, 0, 1, 0], [0.6, 0.4, 0.3, 0.5], 0.25)).toBeCloseTo(2 / 3, 12);
  });

  it('expected calibration error over 10 bins', () => {
    // Bin 9: mean 0.95, half positive → 0.45 · 2/4; bin 1: mean 0.15, all positive → 0.85 · 2/4.
    expect(expectedCalibrationError([1, 0, 1, 1], [0.95, 0.95, 0.15, 0.15])).toBeCloseTo(0.65, 12);
    const curve = calibrationCurve([1, 0, 1, 1], [0.95, 0.95, 0.15, 1]);
    expect(curve).toHaveLength(10);
    expect(curve[9]).toMatchObject({ count: 3, fractionPositive: 2 / 3 });
    expect(curve[0].count).toBe(0);
  });

  it('ROC curve points from (0, 0) to (1, 1)', () => {
    expect(rocCurve([0, 1, 0, 1], [0.2, 0.8, 0.5, 0.5])).toEqual({
      fpr: [0, 0, 0.5, 1],
      tpr: [0, 0.5, 1, 1],
      thresholds: [Infinity, 0.8, 0.5, 0.2],
    });
  });

  it('bundles everything for a model card', () => {
    const m = binaryMetrics([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3]);
    expect(m).toMatchObject({ auc: 1, averagePrecision: 1, accuracy: 1, f1: 1, positiveRate: 0.5, count: 4 });
  });
});

describe('multiclass and regression metrics', () => {
  const labels = [0, 1, 2, 2];
  const probabilities = [0.7, 0.2, 0.1, 0.1, 0.8, 0.1, 0.2, 0.5, 0.3, 0.1, 0.1, 0.8];

  it('accuracy, macro-F1 and log loss', () => {
    expect(multiclassAccuracy(labels, probabilities, 3)).toBe(0.75);
    // Per-class F1: 1, 2/3, 2/3.
    expect(macroF1(labels, probabilities, 3)).toBeCloseTo((1 + 2 / 3 + 2 / 3) / 3, 12);
    const expected = -(Math.log(0.7) + Math.log(0.8) + Math.log(0.3) + Math.log(0.8)) / 4;
    expect(multiclassLogLoss(labels, probabilities, 3)).toBeCloseTo(expected, 12);
  });

  it('RMSE, MAE and R²', () => {
    expect(rmse([1, 2, 3], [1, 2, 4])).toBeCloseTo(Math.sqrt(1 / 3), 12);
    expect(mae([1, 2, 3], [1, 2, 4])).toBeCloseTo(1 / 3, 12);
    expect(r2Score([1, 2, 3], [1, 2, 4])).toBeCloseTo(0.5, 12);
    expect(r2Score([2, 2], [1, 3])).toBeNaN();
  });
});

describe('feature importance', () => {
  const model = {
    features: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
    trees: [
      { feature: [0, 1], gain: [10, 2] },
      { feature: [1, 1], gain: [3, 1] },
    ],
  };

  it('sums split gains per feature, largest first', () => {
    expect(featureImportance(model)).toEqual([
      { feature: 'a', importance: 10, share: 10 / 16 },
      { feature: 'b', importance: 6, share: 6 / 16 },
      { feature: 'c', importance: 0, share: 0 },
    ]);
    expect(featureImportance(model, 'split').map((f) => [f.feature, f.importance])).toEqual([
      ['b', 3],
      ['a', 1],
      ['c', 0],
    ]);
  });
});
