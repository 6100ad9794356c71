/**
 * Evaluation metrics, curves for plotting, and GBDT feature importance.
 *
 * Binary metrics take labels in {0, 1} and the predicted probability (or any score, for the
 * ranking metrics) of class 1. Multiclass metrics take integer labels in [0, K) and row-major
 * probabilities of shape [n, K]. Metrics that are undefined for the input (AUC with one class,
 * anything on zero rows) return NaN rather than throwing.
 */

type Numbers = ArrayLike<number>;

const EPS = 1e-15;

function clampProbability(p: number): number {
  return p < EPS ? EPS : p > 1 - EPS ? 1 - EPS : p;
}

/** Row indices ordered by score descending (ties by index, for determinism). */
function orderByScoreDesc(scores: Numbers): Int32Array {
  const order = new Int32Array(scores.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  return order;
}

/**
 * Area under the ROC curve: the probability that a random positive scores above a random
 * negative, ties counting one half (Mann–Whitney with average ranks).
 *
 * @example
 * auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]); // 0.75
 */
export function auc(labels: Numbers, scores: Numbers): number {
  const n = labels.length;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => scores[a] - scores[b] || a - b);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    const averageRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[order[k]] > 0.5) {
        positives++;
        rankSum += averageRank;
      }
    }
    i = j + 1;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/**
 * Average precision (area under the precision–recall curve as a step function, like
 * scikit-learn): Σ (recall_k − recall_{k−1}) · precision_k over distinct score thresholds.
 */
export function averagePrecision(labels: Numbers, scores: Numbers): number {
  const order = orderByScoreDesc(scores);
  let totalPositives = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] > 0.5) totalPositives++;
  if (totalPositives === 0) return NaN;
  let tp = 0;
  let fp = 0;
  let ap = 0;
  let previousRecall = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j < order.length && scores[order[j]] === scores[order[i]]) {
      if (labels[order[j]] > 0.5) tp++;
      else fp++;
      j++;
    }
    const recall = tp / totalPositives;
    ap += (recall - previousRecall) * (tp / (tp + fp));
    previousRecall = recall;
    i = j;
  }
  return ap;
}

/** Mean binary cross-entropy; probabilities are clamped to [1e-15, 1 − 1e-15]. */
export function logLoss(labels: Numbers, probabilities: Numbers): number {
  if (labels.length === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = clampProbability(probabilities[i]);
    sum -= labels[i] > 0.5 ? Math.log(p) : Math.log(1 - p);
  }
  return sum / labels.length;
}

/** Fraction of rows where (probability >= threshold) matches the label. */
export function accuracy(labels: Numbers, probabilities: Numbers, threshold = 0.5): number {
  if (labels.length === 0) return NaN;
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (probabilities[i] >= threshold === labels[i] > 0.5) correct++;
  return correct / labels.length;
}

/** Counts of the confusion matrix at a threshold (predicted positive iff probability >= threshold). */
export function confusion(
  labels: Numbers,
  probabilities: Numbers,
  threshold = 0.5,
): { tp: number; fp: number; tn: number; fn: number } {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < labels.length; i++) {
    const predicted = probabilities[i] >= threshold;
    const actual = labels[i] > 0.5;
    if (predicted && actual) tp++;
    else if (predicted) fp++;
    else if (actual) fn++;
    else tn++;
  }
  return { tp, fp, tn, fn };
}

/** F1 of the positive class at a threshold; 0 when there are no true positives. */
export function f1Score(labels: Numbers, probabilities: Numbers, threshold = 0.5): number {
  const { tp, fp, fn } = confusion(labels, probabilities, threshold);
  return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
}

/** One bin of a reliability diagram. */
export interface CalibrationBin {
  /** Bin bounds [lower, upper). The last bin includes 1. */
  lower: number;
  upper: number;
  count: number;
  meanPredicted: number;
  fractionPositive: number;
}

/** Equal-width reliability bins over [0, 1]; empty bins are included with count 0 and NaN means. */
export function calibrationCurve(labels: Numbers, probabilities: Numbers, bins = 10): CalibrationBin[] {
  const count = new Float64Array(bins);
  const predicted = new Float64Array(bins);
  const positive = new Float64Array(bins);
  for (let i = 0; i < labels.length; i++) {
    const p = probabilities[i];
    const b = Math.min(bins - 1, Math.max(0, Math.floor(p * bins)));
    count[b]++;
    predicted[b] += p;
    if (labels[i] > 0.5) positive[b]++;
  }
  return Array.from({ length: bins }, (_, b) => ({
    lower: b / bins,
    upper: (b + 1) / bins,
    count: count[b],
    meanPredicted: count[b] ? predicted[b] / count[b] : NaN,
    fractionPositive: count[b] ? positive[b] / count[b] : NaN,
  }));
}

/**
 * Expected calibration error: Σ_b (n_b / n) · |fraction positive_b − mean predicted_b| over
 * equal-width bins.
 */
export function expectedCalibrationError(labels: Numbers, probabilities: Numbers, bins = 10): number {
  if (labels.length === 0) return NaN;
  let ece = 0;
  for (const bin of calibrationCurve(labels, probabilities, bins)) {
    if (bin.count) ece += (bin.count / labels.length) * Math.abs(bin.fractionPositive - bin.meanPredicted);
  }
  return ece;
}

/** ROC curve points, one per distinct threshold, starting at (0, 0) with threshold +Infinity. */
export interface RocCurve {
  fpr: number[];
  tpr: number[];
  thresholds: number[];
}

/** ROC curve at every distinct score, highest threshold first. */
export function rocCurve(labels: Numbers, scores: Numbers): RocCurve {
  const order = orderByScoreDesc(scores);
  let positives = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] > 0.5) positives++;
  const negatives = labels.length - positives;
  const curve: RocCurve = { fpr: [0], tpr: [0], thresholds: [Infinity] };
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < order.length;) {
    const threshold = scores[order[i]];
    while (i < order.length && scores[order[i]] === threshold) {
      if (labels[order[i]] > 0.5) tp++;
      else fp++;
      i++;
    }
    curve.fpr.push(negatives ? fp / negatives : NaN);
    curve.tpr.push(positives ? tp / positives : NaN);
    curve.thresholds.push(threshold);
  }
  return curve;
}

/** Every binary metric, for a model card. */
export interface BinaryMetrics {
  auc: number;
  averagePrecision: number;
  logLoss: number;
  accuracy: number;
  f1: number;
  ece: number;
  positiveRate: number;
  count: number;
}

/**
 * @example
 * const m = binaryMetrics(labels, probabilitiesOfClass1);
 */
export function binaryMetrics(labels: Numbers, probabilities: Numbers, threshold = 0.5): BinaryMetrics {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] > 0.5) positives++;
  return {
    auc: auc(labels, probabilities),
    averagePrecision: averagePrecision(labels, probabilities),
    logLoss: logLoss(labels, probabilities),
    accuracy: accuracy(labels, probabilities, threshold),
    f1: f1Score(labels, probabilities, threshold),
    ece: expectedCalibrationError(labels, probabilities),
    positiveRate: labels.length ? positives / labels.length : NaN,
    count: labels.length,
  };
}

/** Index of the largest probability of each row of [n, K]; ties go to the lower class. */
export function argmaxRows(probabilities: Numbers, numClasses: number): Int32Array {
  const n = Math.floor(probabilities.length / numClasses);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let k = 1; k < numClasses; k++) {
      if (probabilities[i * numClasses + k] > probabilities[i * numClasses + best]) best = k;
    }
    out[i] = best;
  }
  return out;
}

/** Fraction of rows whose argmax class equals the label. */
export function multiclassAccuracy(labels: Numbers, probabilities: Numbers, numClasses: number): number {
  if (labels.length === 0) return NaN;
  const predicted = argmaxRows(probabilities, numClasses);
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return correct / labels.length;
}

/** Unweighted mean over classes of per-class F1 (argmax predictions); classes absent from both count 0. */
export function macroF1(labels: Numbers, probabilities: Numbers, numClasses: number): number {
  const predicted = argmaxRows(probabilities, numClasses);
  const tp = new Float64Array(numClasses);
  const fp = new Float64Array(numClasses);
  const fn = new Float64Array(numClasses);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    const p = predicted[i];
    if (p === y) tp[y]++;
    else {
      fp[p]++;
      fn[y]++;
    }
  }
  let sum = 0;
  for (let k = 0; k < numClasses; k++) sum += tp[k] ? (2 * tp[k]) / (2 * tp[k] + fp[k] + fn[k]) : 0;
  return sum / numClasses;
}

/** Mean negative log probability of the true class. */
export function multiclassLogLoss(labels: Numbers, probabilities: Numbers, numClasses: number): number {
  if (labels.length === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < labels.length; i++) sum -= Math.log(clampProbability(probabilities[i * numClasses + labels[i]]));
  return sum / labels.length;
}

export interface MulticlassMetrics {
  accuracy: number;
  macroF1: number;
  logLoss: number;
  count: number;
}

export function multiclassMetrics(labels: Numbers, probabilities: Numbers, numClasses: number): MulticlassMetrics {
  return {
    accuracy: multiclassAccuracy(labels, probabilities, numClasses),
    macroF1: macroF1(labels, probabilities, numClasses),
    logLoss: multiclassLogLoss(labels, probabilities, numClasses),
    count: labels.length,
  };
}

/** Root mean squared error. */
export function rmse(targets: Numbers, predictions: Numbers): number {
  if (targets.length === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < targets.length; i++) sum += (targets[i] - predictions[i]) ** 2;
  return Math.sqrt(sum / targets.length);
}

/** Mean absolute error. */
export function mae(targets: Numbers, predictions: Numbers): number {
  if (targets.length === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < targets.length; i++) sum += Math.abs(targets[i] - predictions[i]);
  return sum / targets.length;
}

/** Coefficient of determination 1 − SS_res / SS_tot (NaN for constant targets). */
export function r2Score(targets: Numbers, predictions: Numbers): number {
  const n = targets.length;
  if (n === 0) return NaN;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += targets[i];
  mean /= n;
  let ssRes = 0;
  let ssTot = 0;
  for (let i = 0; i < n; i++) {
    ssRes += (targets[i] - predictions[i]) ** 2;
    ssTot += (targets[i] - mean) ** 2;
  }
  return ssTot === 0 ? NaN : 1 - ssRes / ssTot;
}

export interface RegressionMetrics {
  rmse: number;
  mae: number;
  r2: number;
  count: number;
}

export function regressionMetrics(targets: Numbers, predictions: Numbers): RegressionMetrics {
  return {
    rmse: rmse(targets, predictions),
    mae: mae(targets, predictions),
    r2: r2Score(targets, predictions),
    count: targets.length,
  };
}

/** What feature importance reads of a tree model (a GbdtModel satisfies it). */
export interface ImportanceSource {
  readonly features: readonly { readonly name: string }[];
  readonly trees: readonly { readonly feature: readonly number[]; readonly gain: readonly number[] }[];
}

export interface FeatureImportance {
  feature: string;
  /** Total split gain (or number of splits) using the feature. */
  importance: number;
  /** Share of the total, in [0, 1]. */
  share: number;
}

/**
 * Importance of each feature over all trees: total split gain (`'gain'`, the default) or number
 * of splits (`'split'`), sorted high to low (ties by feature order).
 *
 * @example
 * featureImportance(model).slice(0, 5); // the five features with the most gain
 */
export function featureImportance(model: ImportanceSource, type: 'gain' | 'split' = 'gain'): FeatureImportance[] {
  const totals = new Float64Array(model.features.length);
  for (const tree of model.trees) {
    for (let i = 0; i < tree.feature.length; i++) totals[tree.feature[i]] += type === 'gain' ? tree.gain[i] : 1;
  }
  let sum = 0;
  for (const t of totals) sum += t;
  return model.features
    .map((f, i) => ({ feature: f.name, importance: totals[i], share: sum ? totals[i] / sum : 0, index: i }))
    .sort((a, b) => b.importance - a.importance || a.index - b.index)
    .map(({ feature, importance, share }) => ({ feature, importance, share }));
}
