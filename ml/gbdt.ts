/**
 * Histogram gradient-boosted decision trees in the manner of LightGBM: binned features,
 * leaf-wise trees grown from gradient/hessian histograms, binary / multiclass / regression.
 *
 * Training is deterministic for a seed, and every random draw of iteration i comes from a
 * generator derived from (seed, i), so a run resumed from a checkpoint with `initModel` builds
 * the same trees as an uninterrupted run.
 */
import { z } from 'zod';
import {
  binColumns,
  fitCategoricalBins,
  fitNumericBins,
  totalBinCount,
  type BinMapper,
  type BinnedFeature,
} from './binning';
import { createHistogramLayout } from './histogram';
import { auc, mae, multiclassAccuracy, multiclassLogLoss, rmse } from './metrics';
import { createObjective, sigmoid, transformScores, type Objective, type ObjectiveName } from './objective';
import { createRng, deriveSeed, shuffleInPlace } from './random';
import { getColumn, recodeCategorical, type Column, type Table } from './table';
import { addBinnedTreeScores, binnedLeaf, compileBinnedTree, nodeCount, TreeLearner, type Tree } from './tree';

/** Validation metrics early stopping can watch. All but `auc` are better when lower. */
export const GbdtMetricSchema = z.enum(['logloss', 'auc', 'error', 'mlogloss', 'merror', 'rmse', 'mae']);
export type GbdtMetric = z.infer<typeof GbdtMetricSchema>;

/**
 * Hyperparameters, with LightGBM's names (camelCase) and defaults. Plain JSON, so a pipeline
 * step's `with:` block can be validated against it.
 */
export const GbdtParamsSchema = z
  .object({
    objective: z.enum(['binary', 'multiclass', 'regression']),
    /** Boosting iterations in total, counting those of `initModel`. @default 100 */
    numTrees: z.number().int().min(1).default(100),
    /** Shrinkage applied to every leaf. @default 0.1 */
    learningRate: z.number().positive().default(0.1),
    /** Maximum leaves per tree (leaf-wise growth). @default 31 */
    numLeaves: z.number().int().min(2).max(131072).default(31),
    /** Maximum depth of a leaf; -1 for no limit. @default -1 */
    maxDepth: z.number().int().default(-1),
    /** Minimum training rows in a leaf. @default 20 */
    minDataInLeaf: z.number().int().min(1).default(20),
    /** Minimum sum of hessians in a leaf. @default 1e-3 */
    minSumHessianInLeaf: z.number().min(0).default(1e-3),
    /** L2 regularisation of leaf values. @default 0 */
    lambdaL2: z.number().min(0).default(0),
    /** Minimum gain to make a split. @default 0 */
    minGainToSplit: z.number().min(0).default(0),
    /** Maximum bins per feature (the missing bin comes on top). @default 255 */
    maxBins: z.number().int().min(2).max(255).default(255),
    /** Rows sampled to place numeric bin edges. @default 200000 */
    binSampleSize: z.number().int().min(1).default(200_000),
    /** Fraction of rows drawn (per iteration) to grow each tree. @default 1 */
    baggingFraction: z.number().gt(0).max(1).default(1),
    /** Fraction of features drawn (per tree) to consider for splits. @default 1 */
    featureFraction: z.number().gt(0).max(1).default(1),
    /** Categorical features with at most this many categories split one-vs-rest. @default 4 */
    maxCatToOnehot: z.number().int().min(1).default(4),
    /** Most categories on the left side of a categorical split. @default 32 */
    maxCatThreshold: z.number().int().min(1).default(32),
    /** Smoothing of the gradient/hessian ratio that orders categories; also their minimum count. @default 10 */
    catSmooth: z.number().min(0).default(10),
    /** Extra L2 in the gain of categorical splits. @default 10 */
    catL2: z.number().min(0).default(10),
    /** Minimum rows per group of categories in a categorical split. @default 100 */
    minDataPerGroup: z.number().int().min(1).default(100),
    /** Stop when the validation metric has not improved for this many iterations; 0 disables. @default 0 */
    earlyStoppingRounds: z.number().int().min(0).default(0),
    /** Validation metric. @default logloss (binary), mlogloss (multiclass), rmse (regression) */
    metric: GbdtMetricSchema.optional(),
    /** Seed of binning samples, bagging and feature sampling. @default 0 */
    seed: z.number().int().default(0),
    /** Number of classes for multiclass with a numeric label. @default max label + 1 */
    numClasses: z.number().int().min(3).optional(),
  })
  .strict();

/** Hyperparameters as a user writes them (defaults optional). */
export type GbdtParams = z.input<typeof GbdtParamsSchema>;
/** Hyperparameters with defaults applied. */
export type ResolvedGbdtParams = z.output<typeof GbdtParamsSchema>;

/** Reported after every boosting iteration. */
export interface IterationProgress {
  /** Iterations completed, counting those of `initModel`. */
  iteration: number;
  /** Iterations planned (`numTrees`). */
  numIterations: number;
  /** Mean training loss: logloss (binary, multiclass) or RMSE (regression). */
  trainLoss: number;
  /** Validation metric, when a validation set is given. */
  validMetric?: number;
  metric: GbdtMetric;
  /** Iteration with the best validation metric so far. */
  bestIteration?: number;
  bestValidMetric?: number;
  /** Model JSON of everything trained so far (all trees, not cut back to the best iteration). */
  checkpoint(): GbdtModelJSON;
}

/** How and what to train, besides the hyperparameters. */
export interface TrainGbdtOptions extends GbdtParams {
  /** Label column: 0/1 or two categories (binary), categories or integers (multiclass), numbers (regression). */
  label: string;
  /** Feature columns. @default every column but the label */
  features?: readonly string[];
  /** Validation table (same columns) for `validMetric` and early stopping. */
  valid?: Table;
  /** Continue boosting from this model (a checkpoint); its features, bins and classes are kept. */
  initModel?: GbdtModel | GbdtModelJSON;
  /** Called after every iteration; training awaits it (async training only). */
  onIteration?: (progress: IterationProgress) => void | Promise<void>;
  /** Checked between iterations; training rejects with the signal's reason once aborted. */
  signal?: AbortSignal;
  /**
   * Threads to train with: 1, or 2 (this one and a helper thread for large leaves). The model is
   * the same either way. @default 2 on a machine with 2 or more cores, else 1
   */
  threads?: number;
}

const FeatureSchema = z.object({
  name: z.string(),
  kind: z.enum(['numeric', 'categorical']),
  categories: z.array(z.string()).optional(),
});

/** A model feature: name, kind, and for categorical features the dictionary codes refer to. */
export type GbdtFeature = z.infer<typeof FeatureSchema>;

const TreeSchema = z.object({
  feature: z.array(z.number().int()),
  threshold: z.array(z.number()),
  defaultLeft: z.array(z.boolean()),
  categories: z.array(z.array(z.number().int()).nullable()),
  left: z.array(z.number().int()),
  right: z.array(z.number().int()),
  gain: z.array(z.number()),
  count: z.array(z.number()),
  leafValue: z.array(z.number()),
  leafCount: z.array(z.number()),
});

const BinMapperSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('numeric'), thresholds: z.array(z.number()) }),
  z.object({ kind: z.literal('categorical'), categories: z.array(z.number().int()) }),
]);

/** The serialised model: everything needed to predict, export and continue training. */
export const GbdtModelJSONSchema = z.object({
  format: z.literal('mlpipe.gbdt'),
  version: z.literal(1),
  objective: z.enum(['binary', 'multiclass', 'regression']),
  /** Raw scores per row: number of classes for multiclass, else 1. */
  numOutputs: z.number().int().min(1),
  /** Class names by class index (binary and multiclass); null for regression. */
  classes: z.array(z.string()).nullable(),
  label: z.string(),
  features: z.array(FeatureSchema),
  binMappers: z.array(BinMapperSchema),
  /** Starting raw score of each output (float32). */
  baseScore: z.array(z.number()),
  /** Iteration-major: tree i * numOutputs + k adds to output k. */
  trees: z.array(TreeSchema),
  params: GbdtParamsSchema,
  bestIteration: z.number().int().nullable(),
  bestValidMetric: z.number().nullable(),
});
export type GbdtModelJSON = z.infer<typeof GbdtModelJSONSchema>;

/**
 * A trained GBDT. Immutable; `toJSON()` / `GbdtModel.fromJSON()` round-trip it exactly.
 *
 * @example
 * const model = await trainGbdt(table, { objective: 'binary', label: 'delayed' });
 * const copy = GbdtModel.fromJSON(JSON.parse(JSON.stringify(model)));
 */
export class GbdtModel {
  readonly objective: ObjectiveName;
  readonly numOutputs: number;
  readonly classes: readonly string[] | null;
  readonly label: string;
  readonly features: readonly GbdtFeature[];
  readonly binMappers: readonly BinMapper[];
  readonly baseScore: readonly number[];
  readonly trees: readonly Tree[];
  readonly params: ResolvedGbdtParams;
  readonly bestIteration: number | null;
  readonly bestValidMetric: number | null;

  constructor(json: GbdtModelJSON) {
    this.objective = json.objective;
    this.numOutputs = json.numOutputs;
    this.classes = json.classes;
    this.label = json.label;
    this.features = json.features;
    this.binMappers = json.binMappers;
    this.baseScore = json.baseScore;
    this.trees = json.trees;
    this.params = json.params;
    this.bestIteration = json.bestIteration;
    this.bestValidMetric = json.bestValidMetric;
  }

  /** Boosting iterations (trees per output). */
  get numIterations(): number {
    return this.trees.length / this.numOutputs;
  }

  /** Number of classes (2 for binary), or 0 for regression. */
  get numClasses(): number {
    return this.objective === 'regression' ? 0 : this.objective === 'binary' ? 2 : this.numOutputs;
  }

  toJSON(): GbdtModelJSON {
    return {
      format: 'mlpipe.gbdt',
      version: 1,
      objective: this.objective,
      numOutputs: this.numOutputs,
      classes: this.classes ? [...this.classes] : null,
      label: this.label,
      features: this.features.map((f) => ({ ...f })),
      binMappers: [...this.binMappers],
      baseScore: [...this.baseScore],
      trees: [...this.trees],
      params: { ...this.params },
      bestIteration: this.bestIteration,
      bestValidMetric: this.bestValidMetric,
    };
  }

  /** Validates and loads model JSON (as produced by `toJSON`, possibly via JSON.parse). */
  static fromJSON(json: unknown): GbdtModel {
    if (json instanceof GbdtModel) return json;
    return new GbdtModel(GbdtModelJSONSchema.parse(json));
  }
}

/** Thrown for inputs training cannot use: wrong column kinds, bad labels, mismatched init model. */
export class TrainingInputError extends Error {
  override readonly name = 'TrainingInputError';
}

interface EncodedLabels {
  values: Float64Array;
  classes: string[] | null;
}

/** Label column → numbers the objective reads (class indices or targets). */
function encodeLabels(
  column: Column,
  objective: ObjectiveName,
  knownClasses: readonly string[] | null,
  numClasses?: number,
): EncodedLabels {
  const n = column.kind === 'numeric' ? column.values.length : column.codes.length;
  const values = new Float64Array(n);
  if (objective === 'regression') {
    if (column.kind !== 'numeric') throw new TrainingInputError(`regression label "${column.name}" must be numeric`);
    for (let i = 0; i < n; i++) {
      if (Number.isNaN(column.values[i])) throw new TrainingInputError(`label "${column.name}" is missing at row ${i}`);
    }
    values.set(column.values);
    return { values, classes: null };
  }
  if (column.kind === 'categorical') {
    const classes = knownClasses ? [...knownClasses] : [...column.dictionary];
    const codes = knownClasses ? recodeCategorical(column, classes) : column.codes;
    if (objective === 'binary' && classes.length > 2) {
      throw new TrainingInputError(`binary label "${column.name}" has ${classes.length} classes`);
    }
    for (let i = 0; i < n; i++) {
      if (codes[i] < 0) throw new TrainingInputError(`label "${column.name}" is missing or unknown at row ${i}`);
      values[i] = codes[i];
    }
    if (classes.length < 2) throw new TrainingInputError(`label "${column.name}" has fewer than two classes`);
    return { values, classes };
  }
  let max = 0;
  for (let i = 0; i < n; i++) {
    const v = column.values[i];
    if (!Number.isInteger(v) || v < 0) {
      throw new TrainingInputError(`class label "${column.name}" must be an integer >= 0, got ${v} at row ${i}`);
    }
    if (objective === 'binary' && v > 1)
      throw new TrainingInputError(`binary label "${column.name}" is ${v} at row ${i}`);
    values[i] = v;
    max = Math.max(max, v);
  }
  const K = knownClasses?.length ?? (objective === 'binary' ? 2 : (numClasses ?? max + 1));
  if (max >= K) throw new TrainingInputError(`label "${column.name}" has class ${max}, model has ${K} classes`);
  return { values, classes: knownClasses ? [...knownClasses] : Array.from({ length: K }, (_, k) => String(k)) };
}

function defaultMetric(objective: ObjectiveName): GbdtMetric {
  return objective === 'binary' ? 'logloss' : objective === 'multiclass' ? 'mlogloss' : 'rmse';
}

function evaluateMetric(metric: GbdtMetric, objective: Objective, labels: Float64Array, scores: Float64Array): number {
  const K = objective.numOutputs;
  switch (metric) {
    case 'rmse':
      return rmse(labels, scores);
    case 'mae':
      return mae(labels, scores);
    case 'auc':
      return auc(labels, scores);
    case 'logloss':
    case 'mlogloss':
      return objective.name === 'binary'
        ? objective.loss(scores, labels)
        : multiclassLogLoss(labels, transformScores('multiclass', scores, K), K);
    case 'error':
    case 'merror': {
      if (objective.name === 'multiclass') return 1 - multiclassAccuracy(labels, scores, K);
      let wrong = 0;
      for (let i = 0; i < labels.length; i++) if (sigmoid(scores[i]) >= 0.5 !== labels[i] > 0.5) wrong++;
      return wrong / labels.length;
    }
  }
}

const METRICS_BY_OBJECTIVE: Record<ObjectiveName, readonly GbdtMetric[]> = {
  binary: ['logloss', 'auc', 'error'],
  multiclass: ['mlogloss', 'merror'],
  regression: ['rmse', 'mae'],
};

const higherIsBetter = (metric: GbdtMetric): boolean => metric === 'auc';

/** Tags separating the random streams of one iteration. */
const STREAM_BAGGING = 1;
const STREAM_FEATURES = 2;

interface BinnedSet {
  bins: Uint8Array;
  labels: Float64Array;
  scores: Float64Array;
  numRows: number;
}

const finiteOrNull = (x: number | undefined): number | null => (x !== undefined && Number.isFinite(x) ? x : null);

/**
 * Boosting state for one training run. `step()` performs one iteration; `trainGbdt` and
 * `trainGbdtSync` drive it. Exposed for callers that schedule iterations themselves.
 */
export class GbdtTrainer {
  readonly params: ResolvedGbdtParams;
  readonly metric: GbdtMetric;
  private readonly objective: Objective;
  private readonly features: GbdtFeature[];
  private readonly mappers: BinMapper[];
  private readonly classes: string[] | null;
  private readonly baseScore: number[];
  private readonly trees: Tree[];
  private readonly train: BinnedSet;
  private readonly valid: BinnedSet | null;
  private readonly learner: TreeLearner;
  private readonly grad: Float64Array[];
  private readonly hess: Float64Array[];
  private readonly bag: Int32Array;
  private readonly inBag: Uint8Array;
  private readonly dictionarySizes: number[];
  private readonly label: string;
  private bestIteration: number | undefined;
  private bestValidMetric: number | undefined;
  /** Whether grad / hess already hold the gradients at the current scores. */
  private gradientsReady = false;
  private stopReason: 'numTrees' | 'earlyStopping' | 'noSplit' | null = null;

  constructor(table: Table, options: TrainGbdtOptions) {
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    const { label, features, valid, initModel, onIteration, signal, threads, ...rest } = options;
    this.params = GbdtParamsSchema.parse(rest);
    const p = this.params;
    const init = initModel ? GbdtModel.fromJSON(initModel) : null;
    this.label = label;
    if (init && init.objective !== p.objective) {
      throw new TrainingInputError(`initModel objective is ${init.objective}, asked for ${p.objective}`);
    }

    const labelColumn = getColumn(table, label);
    const labels = encodeLabels(labelColumn, p.objective, init?.classes ?? null, p.numClasses);
    this.classes = labels.classes;
    this.objective = createObjective(p.objective, labels.classes?.length ?? 0);
    this.metric = p.metric ?? defaultMetric(p.objective);
    if (!METRICS_BY_OBJECTIVE[p.objective].includes(this.metric)) {
      throw new TrainingInputError(`metric ${this.metric} does not apply to ${p.objective}`);
    }

    const names = init
      ? init.features.map((f) => f.name)
      : (features ?? table.columns.map((c) => c.name).filter((n) => n !== label));
    if (names.length === 0) throw new TrainingInputError('no feature columns');
    if (names.includes(label)) throw new TrainingInputError(`label "${label}" is also a feature`);
    const columns = names.map((n) => getColumn(table, n));
    if (init) {
      init.features.forEach((f, i) => {
        if (columns[i].kind !== f.kind) throw new TrainingInputError(`feature "${f.name}" must be ${f.kind}`);
      });
      this.features = init.features.map((f) => ({ ...f }));
      this.mappers = [...init.binMappers];
      this.baseScore = [...init.baseScore];
      this.trees = [...init.trees];
      this.bestIteration = init.bestIteration ?? undefined;
      this.bestValidMetric = init.bestValidMetric ?? undefined;
    } else {
      this.features = columns.map((c) =>
        c.kind === 'numeric'
          ? { name: c.name, kind: 'numeric' as const }
          : { name: c.name, kind: 'categorical' as const, categories: [...c.dictionary] },
      );
      this.mappers = columns.map((c, f) =>
        c.kind === 'numeric'
          ? fitNumericBins(c.values, { maxBins: p.maxBins, sampleSize: p.binSampleSize, seed: deriveSeed(p.seed, f) })
          : fitCategoricalBins(c.codes, c.dictionary.length, { maxBins: p.maxBins }),
      );
      this.baseScore = this.objective.initScores(labels.values).map((s) => Math.fround(s));
      this.trees = [];
    }
    this.dictionarySizes = this.features.map((f) => f.categories?.length ?? 0);

    this.train = this.bin(table, columns, labels.values);
    this.valid = valid
      ? this.bin(
          valid,
          names.map((n) => getColumn(valid, n)),
          encodeLabels(getColumn(valid, label), p.objective, this.classes, p.numClasses).values,
        )
      : null;

    const layout = createHistogramLayout(this.mappers.map(totalBinCount));
    const K = this.objective.numOutputs;
    this.learner = new TreeLearner(this.train.bins, this.train.numRows, layout, this.mappers, p, {
      threads,
      numOutputs: K,
      scores: this.train.scores,
      labels: this.train.labels,
    });
    // The learner holds the bins, scores, labels and gradients where its kernels work on them.
    const { bins, scores, labels: trainLabels } = this.learner;
    this.train = { ...this.train, bins, scores, labels: trainLabels };
    this.grad = this.learner.grad;
    this.hess = this.learner.hess;
    this.bag = new Int32Array(this.train.numRows);
    this.inBag = new Uint8Array(this.train.numRows);
    if (this.iteration >= p.numTrees) this.stopReason = 'numTrees';
  }

  /** Bins a table and computes its scores under the trees so far. */
  private bin(table: Table, columns: Column[], labels: Float64Array): BinnedSet {
    const bins = binColumns(columns, this.features as BinnedFeature[], this.mappers, table.numRows);
    const K = this.objective.numOutputs;
    const scores = new Float64Array(table.numRows * K);
    for (let r = 0; r < table.numRows; r++) for (let k = 0; k < K; k++) scores[r * K + k] = this.baseScore[k];
    this.trees.forEach((tree, t) => {
      const compiled = compileBinnedTree(tree, this.mappers, this.dictionarySizes);
      addBinnedTreeScores(compiled, bins, this.features.length, table.numRows, scores, K, t % K);
    });
    return { bins, labels, scores, numRows: table.numRows };
  }

  /** Fills grad / hess at the current training scores and returns the training loss there. */
  private gradients(): number {
    // The learner's compiled binary gradients are objective.ts's arithmetic to the bit, faster.
    const compiled = this.objective.name === 'binary' ? this.learner.binaryGradients() : null;
    return compiled ?? this.objective.gradients(this.train.scores, this.train.labels, this.grad, this.hess);
  }

  /** Boosting iterations completed. */
  get iteration(): number {
    return this.trees.length / this.objective.numOutputs;
  }

  /** Whether training has stopped (iteration budget, early stopping, or nothing left to split). */
  get done(): boolean {
    return this.stopReason !== null;
  }

  /** Why training stopped, once it has. */
  get stoppedBy(): 'numTrees' | 'earlyStopping' | 'noSplit' | null {
    return this.stopReason;
  }

  /** Runs one boosting iteration (K trees) and reports losses. */
  step(): Omit<IterationProgress, 'checkpoint'> {
    if (this.done) throw new Error('training is finished');
    const p = this.params;
    const K = this.objective.numOutputs;
    const F = this.features.length;
    const it = this.iteration;
    const train = this.train;
    if (!this.gradientsReady) this.gradients();
    this.gradientsReady = false;

    let bag: Int32Array | null = null;
    if (p.baggingFraction < 1) {
      const rng = createRng(deriveSeed(p.seed, it, STREAM_BAGGING));
      let count = 0;
      for (let r = 0; r < train.numRows; r++) {
        const inBag = rng.next() < p.baggingFraction;
        this.inBag[r] = inBag ? 1 : 0;
        if (inBag) this.bag[count++] = r;
      }
      bag = this.bag.subarray(0, count);
    }

    const grown: Tree[] = [];
    for (let k = 0; k < K; k++) {
      let used: Int32Array;
      if (p.featureFraction < 1) {
        const rng = createRng(deriveSeed(p.seed, it, STREAM_FEATURES, k));
        const m = Math.max(1, Math.round(F * p.featureFraction));
        used = shuffleInPlace(
          Int32Array.from({ length: F }, (_, f) => f),
          rng,
        )
          .subarray(0, m)
          .sort();
      } else {
        used = Int32Array.from({ length: F }, (_, f) => f);
      }
      const tree = this.learner.grow(k, bag, used);
      // Scores of class k can move now: every class's gradients of this iteration are computed.
      // Each score still receives the trees' values in tree order, as a resumed run adds them.
      this.learner.addToScores(tree.leafValue, train.scores, K, k);
      const compiled = compileBinnedTree(tree, this.mappers, this.dictionarySizes);
      if (bag) {
        for (let r = 0; r < train.numRows; r++) {
          if (!this.inBag[r]) train.scores[r * K + k] += compiled.leafValue[binnedLeaf(compiled, train.bins, F, r)];
        }
      }
      if (this.valid) addBinnedTreeScores(compiled, this.valid.bins, F, this.valid.numRows, this.valid.scores, K, k);
      this.trees.push(tree);
      grown.push(tree);
    }
    // Nothing splits any more: further iterations would only add constants.
    if (grown.every((t) => nodeCount(t) === 0)) this.stopReason = 'noSplit';

    const iteration = this.iteration;
    let validMetric: number | undefined;
    if (this.valid) {
      validMetric = evaluateMetric(this.metric, this.objective, this.valid.labels, this.valid.scores);
      const better =
        this.bestValidMetric === undefined ||
        Number.isNaN(this.bestValidMetric) ||
        (higherIsBetter(this.metric) ? validMetric > this.bestValidMetric : validMetric < this.bestValidMetric);
      if (better) {
        this.bestIteration = iteration;
        this.bestValidMetric = validMetric;
      }
      if (p.earlyStoppingRounds > 0 && iteration - (this.bestIteration ?? 0) >= p.earlyStoppingRounds) {
        this.stopReason ??= 'earlyStopping';
      }
    }
    if (iteration >= p.numTrees) this.stopReason ??= 'numTrees';
    if (this.done) this.close();
    // The next iteration's gradients come with the loss at the current scores in one pass.
    let trainLoss: number;
    if (this.done) trainLoss = this.objective.loss(train.scores, train.labels);
    else {
      trainLoss = this.gradients();
      this.gradientsReady = true;
    }
    return {
      iteration,
      numIterations: p.numTrees,
      trainLoss,
      validMetric,
      metric: this.metric,
      bestIteration: this.bestIteration,
      bestValidMetric: this.bestValidMetric,
    };
  }

  /** Stops the helper thread (training does when it finishes); `step()` still works afterwards. */
  close(): void {
    this.learner.close();
  }

  /**
   * The model so far. Once training is done with early stopping on, the trees after the best
   * iteration are dropped; before that (checkpoints) every tree is kept so training can resume.
   */
  model(): GbdtModel {
    const K = this.objective.numOutputs;
    const truncate = this.done && this.valid && this.params.earlyStoppingRounds > 0 && this.bestIteration !== undefined;
    const trees = truncate ? this.trees.slice(0, this.bestIteration! * K) : [...this.trees];
    return new GbdtModel({
      format: 'mlpipe.gbdt',
      version: 1,
      objective: this.objective.name,
      numOutputs: K,
      classes: this.classes,
      label: this.label,
      features: this.features,
      binMappers: this.mappers,
      baseScore: this.baseScore,
      trees,
      params: this.params,
      bestIteration: finiteOrNull(this.bestIteration),
      bestValidMetric: finiteOrNull(this.bestValidMetric),
    });
  }
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Trains a GBDT, yielding to the event loop between iterations so heartbeats and cancellation
 * get through. Rejects with `signal.reason` if the signal aborts.
 *
 * @example
 * const model = await trainGbdt(train, {
 *   objective: 'binary',
 *   label: 'delayed',
 *   valid,
 *   earlyStoppingRounds: 20,
 *   onIteration: ({ iteration, validMetric }) => heartbeat({ iteration, validMetric }),
 * });
 */
export async function trainGbdt(table: Table, options: TrainGbdtOptions): Promise<GbdtModel> {
  const trainer = new GbdtTrainer(table, options);
  try {
    while (!trainer.done) {
      options.signal?.throwIfAborted();
      const progress = trainer.step();
      if (options.onIteration) await options.onIteration({ ...progress, checkpoint: () => trainer.model().toJSON() });
      await yieldToEventLoop();
    }
    return trainer.model();
  } finally {
    trainer.close();
  }
}

/** Synchronous `trainGbdt`: for scripts and tests. `onIteration` is called but not awaited. */
export function trainGbdtSync(table: Table, options: TrainGbdtOptions): GbdtModel {
  const trainer = new GbdtTrainer(table, options);
  try {
    while (!trainer.done) {
      options.signal?.throwIfAborted();
      const progress = trainer.step();
      void options.onIteration?.({ ...progress, checkpoint: () => trainer.model().toJSON() });
    }
    return trainer.model();
  } finally {
    trainer.close();
  }
}
