/**
 * Scoring of a table with an exported ONNX model through onnxruntime-node: what will be served is what is judged.
 *
 * The graph's contract is the one `onnx-export.ts` writes: one input per feature, named after it, float32 [N, 1]
 * for numeric features (NaN = missing) and string [N, 1] for categorical ones ("" = missing); outputs `label`
 * (int64 [N]) and `probabilities` (float32 [N, C]) for classifiers, `variable` (float32 [N, 1]) for regressors.
 */
import * as ort from 'onnxruntime-node';
import { CLASSES_METADATA_KEY, MODEL_CARD_METADATA_KEY, readOnnxMetadata } from './onnx-builder';
import { OUTPUT_LABEL, OUTPUT_PROBABILITIES, OUTPUT_VARIABLE } from './onnx-export';
import { FeatureMismatchError } from './predict';
import { findColumn, type Column, type Table } from './table';

/** Thrown when the ONNX file is not a model this scorer understands (outputs, model card, inputs disagree). */
export class OnnxModelError extends Error {
  override readonly name = 'OnnxModelError';
}

export type OnnxTask = 'binary' | 'multiclass' | 'regression';

/** A graph input: float32 inputs are numeric features, string inputs categorical ones. */
export interface OnnxFeature {
  readonly name: string;
  readonly kind: 'numeric' | 'categorical';
}

/** Predictions in the shape of the graph's outputs (the same shape as `predict` in ml/predict.ts). */
export type OnnxScores =
  | { kind: 'classification'; numClasses: number; probabilities: Float64Array; labels: Int32Array }
  | { kind: 'regression'; values: Float64Array };

export interface ScoreOptions {
  /** Rows per `session.run`: bounds the memory of the input tensors. @default 65536 */
  batchSize?: number;
  /** Called after each batch (e.g. to heartbeat); scoring awaits it. */
  onBatch?: (rowsDone: number, rowsTotal: number) => void | Promise<void>;
  /** Checked between batches; scoring rejects with the signal's reason once aborted. */
  signal?: AbortSignal;
}

const DEFAULT_BATCH_ROWS = 65_536;

/**
 * An ONNX model loaded into onnxruntime, with what its metadata says about it. Call `release()` when done.
 *
 * @example
 * const model = await OnnxModel.load(bytes);
 * try {
 *   const scores = await model.score(holdout);
 * } finally {
 *   await model.release();
 * }
 */
export class OnnxModel {
  private constructor(
    private readonly session: ort.InferenceSession,
    /** The features the graph takes, in input order. */
    readonly features: readonly OnnxFeature[],
    readonly task: OnnxTask,
    /** Number of classes (2 for binary), 0 for regression. */
    readonly numClasses: number,
    /** Class names by class index (metadata `mlpipe.classes`), or null for regressors or when absent. */
    readonly classes: readonly string[] | null,
    /** The parsed model card (metadata `mlpipe.model_card`), or null when absent. */
    readonly modelCard: Record<string, unknown> | null,
    /** Every metadata entry of the file. */
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  /** Loads ONNX bytes and checks that the graph has the mlpipe inputs and outputs. */
  static async load(bytes: Uint8Array): Promise<OnnxModel> {
    let metadata: Record<string, string>;
    try {
      metadata = readOnnxMetadata(bytes);
    } catch (err) {
      throw new OnnxModelError(`not an ONNX model: ${(err as Error).message}`);
    }
    const modelCard = parseJsonObject(metadata[MODEL_CARD_METADATA_KEY], MODEL_CARD_METADATA_KEY);
    const classesJson = metadata[CLASSES_METADATA_KEY];
    const classes = classesJson === undefined ? null : parseClasses(classesJson);
    const session = await ort.InferenceSession.create(bytes).catch((err: Error) => {
      throw new OnnxModelError(`onnxruntime cannot load the model: ${err.message}`);
    });
    try {
      const features = graphFeatures(session);
      checkCardFeatures(modelCard, features);
      const { task, numClasses } = graphTask(session, classes);
      const modelClasses = task === 'regression' ? null : classes;
      return new OnnxModel(session, features, task, numClasses, modelClasses, modelCard, metadata);
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  /**
   * Scores every row of `table`. The table needs a column per feature (others are ignored); a numeric column
   * feeding a categorical input is read as its decimal strings, the other way round is refused.
   */
  async score(table: Table, options: ScoreOptions = {}): Promise<OnnxScores> {
    const batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_ROWS);
    const feeders = this.features.map((feature) => feeder(feature, findColumn(table, feature.name), table));
    const n = table.numRows;
    let probabilities: Float64Array | undefined;
    let labels: Int32Array | undefined;
    let values: Float64Array | undefined;
    const numClasses = this.numClasses;
    if (this.task === 'regression') values = new Float64Array(n);
    for (let start = 0; start < n; start += batchSize) {
      options.signal?.throwIfAborted();
      const end = Math.min(n, start + batchSize);
      const feeds: Record<string, ort.Tensor> = {};
      this.features.forEach((f, i) => (feeds[f.name] = feeders[i](start, end)));
      const result = await this.session.run(feeds);
      try {
        if (this.task === 'regression') {
          values!.set(result[OUTPUT_VARIABLE].data as Float32Array, start);
        } else {
          const p = result[OUTPUT_PROBABILITIES];
          const C = p.dims[1];
          if (C !== numClasses)
            throw new OnnxModelError(`output "probabilities" has ${C} columns, expected ${numClasses}`);
          probabilities ??= new Float64Array(n * C);
          labels ??= new Int32Array(n);
          probabilities.set(p.data as Float32Array, start * C);
          const label = result[OUTPUT_LABEL].data as BigInt64Array;
          for (let r = 0; r < label.length; r++) labels[start + r] = Number(label[r]);
        }
      } finally {
        for (const tensor of Object.values(result)) tensor.dispose();
      }
      await options.onBatch?.(end, n);
    }
    if (this.task === 'regression') return { kind: 'regression', values: values! };
    return {
      kind: 'classification',
      numClasses,
      probabilities: probabilities ?? new Float64Array(0),
      labels: labels ?? new Int32Array(0),
    };
  }

  /** Frees the onnxruntime session. */
  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Loads, scores and releases in one call. */
export async function scoreOnnx(bytes: Uint8Array, table: Table, options: ScoreOptions = {}): Promise<OnnxScores> {
  const model = await OnnxModel.load(bytes);
  try {
    return await model.score(table, options);
  } finally {
    await model.release();
  }
}

/** Probability of class 1 per row, from binary classification scores [n, 2]. */
export function positiveProbabilities(scores: OnnxScores): Float64Array {
  if (scores.kind !== 'classification' || scores.numClasses !== 2)
    throw new Error('needs binary classification scores');
  const out = new Float64Array(scores.probabilities.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = scores.probabilities[2 * i + 1];
  return out;
}

/** Builds the input tensor of one feature for rows [start, end). */
type Feeder = (start: number, end: number) => ort.Tensor;

function feeder(feature: OnnxFeature, column: Column | undefined, table: Table): Feeder {
  if (!column) {
    const have = table.columns.map((c) => c.name).join(', ');
    throw new FeatureMismatchError(`the data has no column "${feature.name}" that the model needs (have: ${have})`);
  }
  if (feature.kind === 'numeric') {
    if (column.kind !== 'numeric') {
      throw new FeatureMismatchError(`feature "${feature.name}" must be numeric, the data has it as categorical`);
    }
    const values = column.values;
    return (start, end) => new ort.Tensor('float32', Float32Array.from(values.subarray(start, end)), [end - start, 1]);
  }
  if (column.kind === 'numeric') {
    // As table.ts turns numbers into categories: their decimal string; NaN is missing.
    const values = column.values;
    return (start, end) => {
      const strings = new Array<string>(end - start);
      for (let r = start; r < end; r++) strings[r - start] = Number.isNaN(values[r]) ? '' : String(values[r]);
      return new ort.Tensor('string', strings, [end - start, 1]);
    };
  }
  const { codes, dictionary } = column;
  return (start, end) => {
    const strings = new Array<string>(end - start);
    for (let r = start; r < end; r++) strings[r - start] = codes[r] < 0 ? '' : dictionary[codes[r]];
    return new ort.Tensor('string', strings, [end - start, 1]);
  };
}

function graphFeatures(session: ort.InferenceSession): OnnxFeature[] {
  return session.inputMetadata.map((input) => {
    const type = input.isTensor ? input.type : 'non-tensor';
    if (type === 'float32') return { name: input.name, kind: 'numeric' };
    if (type === 'string') return { name: input.name, kind: 'categorical' };
    throw new OnnxModelError(`input "${input.name}" is ${type}: mlpipe models take float32 or string inputs`);
  });
}

function graphTask(
  session: ort.InferenceSession,
  classes: readonly string[] | null,
): { task: OnnxTask; numClasses: number } {
  const outputs = new Set(session.outputNames);
  if (outputs.has(OUTPUT_VARIABLE)) return { task: 'regression', numClasses: 0 };
  if (outputs.has(OUTPUT_PROBABILITIES) && outputs.has(OUTPUT_LABEL)) {
    const meta = session.outputMetadata.find((o) => o.name === OUTPUT_PROBABILITIES);
    const width = meta?.isTensor ? meta.shape[1] : undefined;
    const C = typeof width === 'number' ? width : classes?.length;
    if (C === undefined)
      throw new OnnxModelError('cannot tell the number of classes: no fixed output width, no classes');
    if (classes && classes.length !== C) {
      throw new OnnxModelError(`metadata names ${classes.length} classes, output "probabilities" has ${C}`);
    }
    return { task: C === 2 ? 'binary' : 'multiclass', numClasses: C };
  }
  throw new OnnxModelError(
    `outputs are ${[...outputs].join(', ')}: expected "${OUTPUT_LABEL}" + "${OUTPUT_PROBABILITIES}" or "${OUTPUT_VARIABLE}"`,
  );
}

/** A model card's `features` (names, or objects with a name), when it has them, must match the graph inputs. */
function checkCardFeatures(card: Record<string, unknown> | null, graph: readonly OnnxFeature[]): void {
  const listed = card?.features;
  if (!Array.isArray(listed)) return;
  const names = listed.map((f: unknown) =>
    typeof f === 'string' ? f : f && typeof f === 'object' ? String((f as { name?: unknown }).name) : String(f),
  );
  const inputs = graph.map((f) => f.name);
  const missing = names.filter((n) => !inputs.includes(n));
  const extra = inputs.filter((n) => !names.includes(n));
  if (missing.length || extra.length) {
    throw new OnnxModelError(
      `model card features disagree with the graph inputs` +
        (missing.length ? `; not inputs: ${missing.join(', ')}` : '') +
        (extra.length ? `; not in the card: ${extra.join(', ')}` : ''),
    );
  }
}

function parseJsonObject(json: string | undefined, key: string): Record<string, unknown> | null {
  if (json === undefined) return null;
  try {
    const value = JSON.parse(json) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    throw new OnnxModelError(`metadata "${key}" is not JSON`);
  }
}

function parseClasses(json: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new OnnxModelError(`metadata "${CLASSES_METADATA_KEY}" is not JSON`);
  }
  if (!Array.isArray(value)) throw new OnnxModelError(`metadata "${CLASSES_METADATA_KEY}" is not a list`);
  return value.map(String);
}
