/**
 * Linear models: logistic (binary), softmax (multiclass) and least-squares regression with L2.
 *
 * Numeric features are standardised with the training mean and standard deviation, missing
 * values imputed with the mean (0 after standardising). Categorical features are one-hot encoded
 * over the training categories; missing and unseen categories encode as all zeros. Training
 * minimises mean loss + λ/2·‖W‖² (bias not penalised) with L-BFGS and a backtracking line
 * search: no randomness, so the same data always gives the same model.
 */
import { z } from 'zod';
import { argmaxRows } from './metrics';
import { softmaxRow } from './objective';
import { getColumn, recodeCategorical, type Column, type Table } from './table';

export const LinearParamsSchema = z
  .object({
    objective: z.enum(['binary', 'multiclass', 'regression']),
    /** L2 penalty on the weights, against the mean loss. @default 1e-4 */
    lambdaL2: z.number().min(0).default(1e-4),
    /** Maximum L-BFGS iterations. @default 200 */
    maxIterations: z.number().int().min(1).default(200),
    /** Stop when the largest gradient component falls below this. @default 1e-6 */
    tolerance: z.number().positive().default(1e-6),
    /** Correction pairs L-BFGS keeps. @default 10 */
    memory: z.number().int().min(1).max(100).default(10),
    /** Categories seen fewer times in training get no column of their own (encode as zeros). @default 1 */
    minCategoryCount: z.number().int().min(1).default(1),
    /** Number of classes for multiclass with a numeric label. @default max label + 1 */
    numClasses: z.number().int().min(3).optional(),
  })
  .strict();

export type LinearParams = z.input<typeof LinearParamsSchema>;
export type ResolvedLinearParams = z.output<typeof LinearParamsSchema>;

export interface TrainLinearOptions extends LinearParams {
  /** Label column: as for GBDT (0/1 or two categories, categories or integers, numbers). */
  label: string;
  /** Feature columns. @default every column but the label */
  features?: readonly string[];
}

const LinearFeatureSchema = z.discriminatedUnion('kind', [
  z.object({ name: z.string(), kind: z.literal('numeric'), mean: z.number(), scale: z.number() }),
  z.object({ name: z.string(), kind: z.literal('categorical'), categories: z.array(z.string()) }),
]);
/** A numeric feature standardises as (x − mean)·scale; a categorical one has a column per category. */
export type LinearFeature = z.infer<typeof LinearFeatureSchema>;

export const LinearModelJSONSchema = z.object({
  format: z.literal('mlpipe.linear'),
  version: z.literal(1),
  objective: z.enum(['binary', 'multiclass', 'regression']),
  /** Outputs per row: number of classes for multiclass, else 1. */
  numOutputs: z.number().int().min(1),
  classes: z.array(z.string()).nullable(),
  label: z.string(),
  features: z.array(LinearFeatureSchema),
  /** Row-major [D, numOutputs] over the design columns: numeric features first, then one-hot blocks. */
  weights: z.array(z.number()),
  bias: z.array(z.number()),
  params: LinearParamsSchema,
  iterations: z.number().int(),
  converged: z.boolean(),
  trainLoss: z.number().nullable(),
});
export type LinearModelJSON = z.infer<typeof LinearModelJSONSchema>;

/**
 * A trained linear model.
 *
 * @example
 * const model = trainLinear(table, { objective: 'binary', label: 'delayed' });
 * const p = predictLinear(model, table);
 */
export class LinearModel {
  readonly objective: LinearModelJSON['objective'];
  readonly numOutputs: number;
  readonly classes: readonly string[] | null;
  readonly label: string;
  readonly features: readonly LinearFeature[];
  readonly weights: readonly number[];
  readonly bias: readonly number[];
  readonly params: ResolvedLinearParams;
  readonly iterations: number;
  readonly converged: boolean;
  readonly trainLoss: number | null;

  constructor(json: LinearModelJSON) {
    this.objective = json.objective;
    this.numOutputs = json.numOutputs;
    this.classes = json.classes;
    this.label = json.label;
    this.features = json.features;
    this.weights = json.weights;
    this.bias = json.bias;
    this.params = json.params;
    this.iterations = json.iterations;
    this.converged = json.converged;
    this.trainLoss = json.trainLoss;
  }

  /** Number of classes (2 for binary), or 0 for regression. */
  get numClasses(): number {
    return this.objective === 'regression' ? 0 : this.objective === 'binary' ? 2 : this.numOutputs;
  }

  /** Width of the design matrix. */
  get numColumns(): number {
    return designWidth(this.features);
  }

  toJSON(): LinearModelJSON {
    return {
      format: 'mlpipe.linear',
      version: 1,
      objective: this.objective,
      numOutputs: this.numOutputs,
      classes: this.classes ? [...this.classes] : null,
      label: this.label,
      features: this.features.map((f) => ({ ...f })),
      weights: [...this.weights],
      bias: [...this.bias],
      params: { ...this.params },
      iterations: this.iterations,
      converged: this.converged,
      trainLoss: this.trainLoss,
    };
  }

  static fromJSON(json: unknown): LinearModel {
    if (json instanceof LinearModel) return json;
    return new LinearModel(LinearModelJSONSchema.parse(json));
  }
}

function designWidth(features: readonly LinearFeature[]): number {
  return features.reduce((w, f) => w + (f.kind === 'numeric' ? 1 : f.categories.length), 0);
}

/**
 * The design matrix in a compact form: standardised numeric columns (dense, row-major [n, P])
 * and, per categorical feature, the one-hot column hit by each row (-1 for none).
 */
interface Design {
  n: number;
  P: number;
  numeric: Float64Array;
  /** Absolute design column of each row's category, per categorical feature. */
  hot: Int32Array[];
}

function buildDesign(features: readonly LinearFeature[], table: Table, roundToFloat32: boolean): Design {
  const n = table.numRows;
  const numericFeatures = features.filter((f) => f.kind === 'numeric');
  const P = numericFeatures.length;
  const numeric = new Float64Array(n * P);
  const hot: Int32Array[] = [];
  let p = 0;
  let offset = P;
  for (const feature of features) {
    const column = getColumn(table, feature.name);
    if (column.kind !== feature.kind) throw new Error(`feature "${feature.name}" must be ${feature.kind}`);
    if (feature.kind === 'numeric' && column.kind === 'numeric') {
      for (let r = 0; r < n; r++) {
        const x = roundToFloat32 ? Math.fround(column.values[r]) : column.values[r];
        numeric[r * P + p] = Number.isNaN(x) ? 0 : (x - feature.mean) * feature.scale;
      }
      p++;
    } else if (feature.kind === 'categorical' && column.kind === 'categorical') {
      const codes = recodeCategorical(column, feature.categories);
      hot.push(Int32Array.from(codes, (c) => (c < 0 ? -1 : offset + c)));
      offset += feature.categories.length;
    }
  }
  return { n, P, numeric, hot };
}

/** Raw outputs (logits or predictions) [n, K] for weights W [D, K] and bias b [K]. */
function linearScores(design: Design, W: ArrayLike<number>, b: ArrayLike<number>, K: number): Float64Array {
  const { n, P, numeric, hot } = design;
  const out = new Float64Array(n * K);
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < K; k++) {
      let z = b[k];
      for (let p = 0; p < P; p++) z += numeric[r * P + p] * W[p * K + k];
      for (const h of hot) if (h[r] >= 0) z += W[h[r] * K + k];
      out[r * K + k] = z;
    }
  }
  return out;
}

/** Mean loss + penalty and its gradient at θ = [W (D·K), b (K)]. */
function objectiveAndGradient(
  objective: LinearModelJSON['objective'],
  design: Design,
  labels: Float64Array,
  K: number,
  lambda: number,
  theta: Float64Array,
  grad: Float64Array,
): number {
  const { n, P, numeric, hot } = design;
  const D = (theta.length - K) / K;
  const W = theta.subarray(0, D * K);
  const b = theta.subarray(D * K);
  const scores = linearScores(design, W, b, K);
  grad.fill(0);
  const residual = new Float64Array(K);
  const prob = new Float64Array(K);
  let loss = 0;
  for (let r = 0; r < n; r++) {
    const y = labels[r];
    if (objective === 'binary') {
      const z = scores[r];
      loss += Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))) - y * z;
      residual[0] = 1 / (1 + Math.exp(-z)) - y;
    } else if (objective === 'multiclass') {
      softmaxRow(scores, r, K, prob);
      loss -= Math.log(Math.max(prob[y], 1e-300));
      for (let k = 0; k < K; k++) residual[k] = prob[k] - (k === y ? 1 : 0);
    } else {
      const e = scores[r] - y;
      loss += 0.5 * e * e;
      residual[0] = e;
    }
    for (let k = 0; k < K; k++) {
      const e = residual[k];
      for (let p = 0; p < P; p++) grad[p * K + k] += e * numeric[r * P + p];
      for (const h of hot) if (h[r] >= 0) grad[h[r] * K + k] += e;
      grad[D * K + k] += e;
    }
  }
  let penalty = 0;
  for (let i = 0; i < theta.length; i++) {
    grad[i] /= n;
    if (i < D * K) {
      penalty += theta[i] * theta[i];
      grad[i] += lambda * theta[i];
    }
  }
  return loss / n + 0.5 * lambda * penalty;
}

const dot = (a: Float64Array, b: Float64Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

const maxAbs = (a: Float64Array): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
};

/**
 * L-BFGS with an Armijo backtracking line search. Returns the iterations used and whether the
 * gradient tolerance was met.
 */
function minimiseLbfgs(
  f: (x: Float64Array, g: Float64Array) => number,
  x: Float64Array,
  maxIterations: number,
  tolerance: number,
  memory: number,
): { iterations: number; converged: boolean; value: number } {
  const m = x.length;
  const g = new Float64Array(m);
  let fx = f(x, g);
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const direction = new Float64Array(m);
  const xNew = new Float64Array(m);
  const gNew = new Float64Array(m);
  const alpha = new Float64Array(memory);
  for (let it = 0; it < maxIterations; it++) {
    if (maxAbs(g) < tolerance) return { iterations: it, converged: true, value: fx };
    // Two-loop recursion: direction = −H·g.
    direction.set(g);
    for (let i = S.length - 1; i >= 0; i--) {
      alpha[i] = rho[i] * dot(S[i], direction);
      for (let j = 0; j < m; j++) direction[j] -= alpha[i] * Y[i][j];
    }
    const gamma = S.length ? dot(S[S.length - 1], Y[Y.length - 1]) / dot(Y[Y.length - 1], Y[Y.length - 1]) : 1;
    for (let j = 0; j < m; j++) direction[j] *= gamma;
    for (let i = 0; i < S.length; i++) {
      const beta = rho[i] * dot(Y[i], direction);
      for (let j = 0; j < m; j++) direction[j] += S[i][j] * (alpha[i] - beta);
    }
    for (let j = 0; j < m; j++) direction[j] = -direction[j];
    let slope = dot(g, direction);
    if (slope >= 0) {
      // Not a descent direction (curvature information went stale): restart from the gradient.
      S.length = 0;
      Y.length = 0;
      rho.length = 0;
      for (let j = 0; j < m; j++) direction[j] = -g[j];
      slope = dot(g, direction);
    }
    let step = S.length ? 1 : Math.min(1, 1 / Math.max(maxAbs(g), 1e-12));
    let fNew = Infinity;
    for (let tries = 0; tries < 40; tries++) {
      for (let j = 0; j < m; j++) xNew[j] = x[j] + step * direction[j];
      fNew = f(xNew, gNew);
      if (fNew <= fx + 1e-4 * step * slope) break;
      step *= 0.5;
    }
    if (!(fNew <= fx)) return { iterations: it, converged: false, value: fx };
    const s = new Float64Array(m);
    const y = new Float64Array(m);
    for (let j = 0; j < m; j++) {
      s[j] = xNew[j] - x[j];
      y[j] = gNew[j] - g[j];
    }
    const sy = dot(s, y);
    if (sy > 1e-12) {
      if (S.length === memory) {
        S.shift();
        Y.shift();
        rho.shift();
      }
      S.push(s);
      Y.push(y);
      rho.push(1 / sy);
    }
    const decrease = fx - fNew;
    x.set(xNew);
    g.set(gNew);
    fx = fNew;
    if (decrease <= 1e-15 * Math.max(1, Math.abs(fx))) {
      return { iterations: it + 1, converged: maxAbs(g) < tolerance, value: fx };
    }
  }
  return { iterations: maxIterations, converged: maxAbs(g) < tolerance, value: fx };
}

function encodeLabels(
  column: Column,
  objective: LinearModelJSON['objective'],
  numClasses?: number,
): { values: Float64Array; classes: string[] | null } {
  if (objective === 'regression') {
    if (column.kind !== 'numeric') throw new Error(`regression label "${column.name}" must be numeric`);
    if (column.values.some(Number.isNaN)) throw new Error(`label "${column.name}" has missing values`);
    return { values: Float64Array.from(column.values), classes: null };
  }
  if (column.kind === 'categorical') {
    if (column.codes.some((c) => c < 0)) throw new Error(`label "${column.name}" has missing values`);
    if (objective === 'binary' && column.dictionary.length !== 2) {
      throw new Error(`binary label "${column.name}" needs exactly two classes, has ${column.dictionary.length}`);
    }
    return { values: Float64Array.from(column.codes), classes: [...column.dictionary] };
  }
  let max = 0;
  for (const v of column.values) {
    if (!Number.isInteger(v) || v < 0 || (objective === 'binary' && v > 1)) {
      throw new Error(`label "${column.name}" has invalid class ${v}`);
    }
    max = Math.max(max, v);
  }
  const K = objective === 'binary' ? 2 : (numClasses ?? max + 1);
  return { values: Float64Array.from(column.values), classes: Array.from({ length: K }, (_, k) => String(k)) };
}

/**
 * Trains a linear model. Deterministic: the same table and options give the same weights.
 *
 * @example
 * const model = trainLinear(train, { objective: 'binary', label: 'delayed', lambdaL2: 1e-3 });
 */
export function trainLinear(table: Table, options: TrainLinearOptions): LinearModel {
  const { label, features, ...rest } = options;
  const params = LinearParamsSchema.parse(rest);
  const names = features ?? table.columns.map((c) => c.name).filter((n) => n !== label);
  const labels = encodeLabels(getColumn(table, label), params.objective, params.numClasses);
  const K = params.objective === 'multiclass' ? labels.classes!.length : 1;
  if (params.objective === 'multiclass' && K < 3) throw new Error(`multiclass needs at least 3 classes, got ${K}`);

  const linearFeatures: LinearFeature[] = names.map((name) => {
    const column = getColumn(table, name);
    if (column.kind === 'numeric') {
      let count = 0;
      let mean = 0;
      for (const v of column.values) {
        if (Number.isNaN(v)) continue;
        count++;
        mean += v;
      }
      mean = count ? mean / count : 0;
      let variance = 0;
      for (const v of column.values) if (!Number.isNaN(v)) variance += (v - mean) ** 2;
      const std = count ? Math.sqrt(variance / count) : 0;
      // Float32 parameters: the exported graph holds exactly these numbers.
      return { name, kind: 'numeric', mean: Math.fround(mean), scale: Math.fround(std > 0 ? 1 / std : 1) };
    }
    const counts = new Float64Array(column.dictionary.length);
    for (const c of column.codes) if (c >= 0) counts[c]++;
    const categories = column.dictionary.filter((_, c) => counts[c] >= params.minCategoryCount);
    return { name, kind: 'categorical', categories };
  });

  const design = buildDesign(linearFeatures, table, true);
  const D = designWidth(linearFeatures);
  const theta = new Float64Array(D * K + K);
  if (params.objective === 'regression') {
    theta[D * K] = labels.values.reduce((s, v) => s + v, 0) / Math.max(1, labels.values.length);
  }
  const result = minimiseLbfgs(
    (x, g) => objectiveAndGradient(params.objective, design, labels.values, K, params.lambdaL2, x, g),
    theta,
    params.maxIterations,
    params.tolerance,
    params.memory,
  );
  return new LinearModel({
    format: 'mlpipe.linear',
    version: 1,
    objective: params.objective,
    numOutputs: K,
    classes: labels.classes,
    label,
    features: linearFeatures,
    weights: Array.from(theta.subarray(0, D * K), Math.fround),
    bias: Array.from(theta.subarray(D * K), Math.fround),
    params,
    iterations: result.iterations,
    converged: result.converged,
    trainLoss: Number.isFinite(result.value) ? result.value : null,
  });
}

/** Raw outputs [n, numOutputs]: logits (classification) or predictions (regression). */
export function predictLinearRaw(model: LinearModel, table: Table): Float64Array {
  return linearScores(buildDesign(model.features, table, true), model.weights, model.bias, model.numOutputs);
}

/** Predictions in the shape of the ONNX outputs (as `predict` for GBDT). */
export function predictLinear(
  model: LinearModel,
  table: Table,
):
  | { kind: 'classification'; numClasses: number; probabilities: Float64Array; labels: Int32Array }
  | { kind: 'regression'; values: Float64Array } {
  const raw = predictLinearRaw(model, table);
  if (model.objective === 'regression') return { kind: 'regression', values: raw };
  const K = model.numClasses;
  const n = table.numRows;
  const probabilities = new Float64Array(n * K);
  if (model.objective === 'binary') {
    for (let r = 0; r < n; r++) {
      const p = 1 / (1 + Math.exp(-raw[r]));
      probabilities[2 * r] = 1 - p;
      probabilities[2 * r + 1] = p;
    }
  } else {
    const row = new Float64Array(K);
    for (let r = 0; r < n; r++) {
      softmaxRow(raw, r, K, row);
      probabilities.set(row, r * K);
    }
  }
  return { kind: 'classification', numClasses: K, probabilities, labels: argmaxRows(probabilities, K) };
}
