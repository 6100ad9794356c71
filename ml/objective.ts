/**
 * Boosting objectives: starting score, gradients and hessians, training loss, and the link from
 * raw scores to predictions. Scores are row-major [n, K] with K = 1 except for multiclass.
 */
import { multiclassLogLoss, rmse } from './metrics';

export type ObjectiveName = 'binary' | 'multiclass' | 'regression';

export interface Objective {
  readonly name: ObjectiveName;
  /** Raw scores per row (K). */
  readonly numOutputs: number;
  /** Starting score of each output, from the label distribution (boost from average). */
  initScores(labels: Float64Array): number[];
  /**
   * Fills grad[k][r], hess[k][r] from scores[r * K + k] and returns the training loss at these
   * scores (as `loss` would), computed in the same pass from the same probabilities.
   */
  gradients(scores: Float64Array, labels: Float64Array, grad: Float64Array[], hess: Float64Array[]): number;
  /** Mean training loss at these scores, reported per iteration (lower is better). */
  loss(scores: Float64Array, labels: Float64Array): number;
}

/**
 * Σ log(q) over probabilities q, clamped to [1e-15, 1], with one Math.log per 16 values: it
 * multiplies them first (16 factors >= 1e-15 cannot underflow a double). The training loss is
 * reported every iteration, and a log per row was a fifth of the training time.
 */
class LogSum {
  private sum = 0;
  private product = 1;
  private pending = 0;

  add(q: number): void {
    this.product *= q < 1e-15 ? 1e-15 : q > 1 ? 1 : q;
    if (++this.pending === 16) {
      this.sum += Math.log(this.product);
      this.product = 1;
      this.pending = 0;
    }
  }

  total(): number {
    return this.sum + Math.log(this.product);
  }
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Softmax of row `r` of row-major scores, written to out[0..K). */
export function softmaxRow(scores: ArrayLike<number>, r: number, K: number, out: Float64Array): void {
  let max = -Infinity;
  for (let k = 0; k < K; k++) max = Math.max(max, scores[r * K + k]);
  let sum = 0;
  for (let k = 0; k < K; k++) {
    const e = Math.exp(scores[r * K + k] - max);
    out[k] = e;
    sum += e;
  }
  for (let k = 0; k < K; k++) out[k] /= sum;
}

/** Probabilities [n, 2] (binary) or [n, K] (multiclass) from raw scores; identity for regression. */
export function transformScores(name: ObjectiveName, scores: Float64Array, numOutputs: number): Float64Array {
  if (name === 'regression') return scores;
  const n = scores.length / numOutputs;
  if (name === 'binary') {
    const out = new Float64Array(n * 2);
    for (let r = 0; r < n; r++) {
      const p = sigmoid(scores[r]);
      out[2 * r] = 1 - p;
      out[2 * r + 1] = p;
    }
    return out;
  }
  const out = new Float64Array(n * numOutputs);
  const row = new Float64Array(numOutputs);
  for (let r = 0; r < n; r++) {
    softmaxRow(scores, r, numOutputs, row);
    out.set(row, r * numOutputs);
  }
  return out;
}

const binary: Objective = {
  name: 'binary',
  numOutputs: 1,
  initScores(labels) {
    let mean = 0;
    for (let i = 0; i < labels.length; i++) mean += labels[i];
    mean = labels.length ? mean / labels.length : 0.5;
    const p = Math.min(1 - 1e-15, Math.max(1e-15, mean));
    return [Math.log(p / (1 - p))];
  },
  gradients(scores, labels, grad, hess) {
    const g = grad[0];
    const h = hess[0];
    const loss = new LogSum();
    for (let r = 0; r < labels.length; r++) {
      const p = 1 / (1 + Math.exp(-scores[r]));
      const y = labels[r];
      g[r] = p - y;
      h[r] = Math.max(p * (1 - p), 1e-16);
      loss.add(y > 0.5 ? p : 1 - p);
    }
    return labels.length ? -loss.total() / labels.length : NaN;
  },
  loss(scores, labels) {
    // log(1 + e^s) − y·s, computed without overflow.
    let sum = 0;
    for (let r = 0; r < labels.length; r++) {
      const s = scores[r];
      sum += Math.max(s, 0) + Math.log1p(Math.exp(-Math.abs(s))) - labels[r] * s;
    }
    return labels.length ? sum / labels.length : NaN;
  },
};

function multiclass(K: number): Objective {
  // LightGBM scales the softmax hessian by K / (K − 1): the diagonal of the full Hessian
  // understates curvature, and this factor gives better-sized Newton steps.
  const factor = K / (K - 1);
  return {
    name: 'multiclass',
    numOutputs: K,
    initScores(labels) {
      const counts = new Float64Array(K);
      for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
      return Array.from(counts, (c) => Math.log(Math.max(c / Math.max(1, labels.length), 1e-15)));
    },
    gradients(scores, labels, grad, hess) {
      const p = new Float64Array(K);
      const loss = new LogSum();
      for (let r = 0; r < labels.length; r++) {
        softmaxRow(scores, r, K, p);
        const y = labels[r];
        for (let k = 0; k < K; k++) {
          grad[k][r] = p[k] - (k === y ? 1 : 0);
          hess[k][r] = Math.max(factor * p[k] * (1 - p[k]), 1e-16);
        }
        loss.add(p[y]);
      }
      return labels.length ? -loss.total() / labels.length : NaN;
    },
    loss(scores, labels) {
      return multiclassLogLoss(labels, transformScores('multiclass', scores, K), K);
    },
  };
}

const regression: Objective = {
  name: 'regression',
  numOutputs: 1,
  initScores(labels) {
    let mean = 0;
    for (let i = 0; i < labels.length; i++) mean += labels[i];
    return [labels.length ? mean / labels.length : 0];
  },
  gradients(scores, labels, grad, hess) {
    const g = grad[0];
    const h = hess[0];
    let sum = 0;
    for (let r = 0; r < labels.length; r++) {
      const d = scores[r] - labels[r];
      g[r] = d;
      h[r] = 1;
      sum += d * d;
    }
    return labels.length ? Math.sqrt(sum / labels.length) : NaN;
  },
  loss(scores, labels) {
    return rmse(labels, scores);
  },
};

/** The objective by name; `numClasses` is required (>= 3) for multiclass. */
export function createObjective(name: ObjectiveName, numClasses = 2): Objective {
  if (name === 'binary') return binary;
  if (name === 'regression') return regression;
  if (numClasses < 3) throw new Error(`multiclass needs at least 3 classes, got ${numClasses}`);
  return multiclass(numClasses);
}
