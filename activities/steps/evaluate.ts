import { ApplicationFailure } from '@temporalio/activity';
import { z } from 'zod';
import {
  binaryMetrics,
  multiclassMetrics,
  regressionMetrics,
  TableError,
  takeRows,
  getColumn,
  type Column,
  type Table,
} from '../../ml';
import {
  checkGateMetrics,
  evaluateGates,
  failedGateMessages,
  GatesSchema,
  splitGates,
  type GateResult,
} from '../../ml/gates';
import {
  OnnxModel,
  OnnxModelError,
  positiveProbabilities,
  type OnnxScores,
  type OnnxTask,
} from '../../ml/onnx-scoring';
import { FeatureMismatchError } from '../../ml/predict';
import type { StepTypeSpec } from '../../definitions/step-types';
import { ErrorTypes } from '../../workflows/errors';
import { readDatasetTable, readVerified } from '../data/dataset-ref';
import { renderReportHtml } from '../report/html';
import {
  binaryCurves,
  compareMetrics,
  importanceFromCard,
  metricsJson,
  type ChampionSection,
  type EvaluationReport,
  type Metrics,
  type ModelCurves,
} from '../report/report';
import { buildSmokeSample } from './smoke-sample';
import { formatWithIssues, stepInputInvalid } from './step-input';
import type { StepContext, StepHandler } from './types';

const ArtifactRefSchema = z
  .object({ uri: z.string().min(1), sha256: z.string().regex(/^[a-f0-9]{64}$/, 'a sha256 hex digest') })
  .loose();

export const EvaluateInputSchema = z.strictObject({
  /** The candidate: the exported ONNX file (a train step's `model` output). Its sha256 is checked before loading. */
  model: ArtifactRefSchema,
  /** The holdout: an Arrow IPC dataset (an ingest step's `valid` output). */
  dataset: ArtifactRefSchema,
  /** Label column of the holdout. @default the model card's `label` */
  label: z.string().min(1).optional(),
  /** Binary models: rows at or above this probability are predicted positive (accuracy, f1, confusion). @default 0.5 */
  threshold: z.number().min(0).max(1).default(0.5),
  /** `<metric>: { min, max }` bounds and `vsChampion: { metric, maxDrop }`. @default no gates */
  gates: GatesSchema.default({}),
  /** The model at alias `production`, scored on the same holdout for comparison; null when there is none. */
  champion: ArtifactRefSchema.nullable().default(null),
  /** Rows per onnxruntime call. @default 65536 */
  batchSize: z.number().int().min(1).default(65_536),
});
export type EvaluateInput = z.input<typeof EvaluateInputSchema>;

/** What the pipeline language knows about `uses: evaluate`. */
export const evaluateStepType: StepTypeSpec = {
  description:
    'Scores a holdout with the exported ONNX model, compares it with the champion, checks gates, writes a report',
  withSchema: EvaluateInputSchema,
  defaultQueue: 'cpu',
};

/** The step's outputs (small JSON: the curves and tables live in the report). */
export interface EvaluateOutputs {
  metrics: Metrics;
  champion: { metrics: Metrics | null; error?: string } | null;
  gates: GateResult[];
  passed: true;
  report: { json: string; html: string };
  /** Holdout rows with the scores this ONNX file gave them (`smoke.json`): `deploy` checks serving against it. */
  smoke: { uri: string; sha256: string; rows: number };
}

/** Metrics computed per task, in report order: gates may name any of them. */
export const METRIC_NAMES: Record<OnnxTask, readonly string[]> = {
  binary: ['auc', 'prAuc', 'logLoss', 'accuracy', 'f1', 'ece', 'positiveRate', 'count'],
  multiclass: ['accuracy', 'macroF1', 'logLoss', 'count'],
  regression: ['rmse', 'mae', 'r2', 'count'],
};

/**
 * `evaluate`: scores the holdout with onnxruntime on the exported file itself (what will be served is what is
 * judged), scores the champion on the same rows, checks the gates and writes `report.json` + `report.html` under the
 * attempt's prefix. A missed gate fails the step with a non-retryable `GateFailed` listing every missed gate; the
 * report is written first, so the failure can be read.
 */
export const evaluate: StepHandler = async (raw, ctx): Promise<EvaluateOutputs> => {
  const input = parseInput(raw, ctx);
  const gates = splitGates(input.gates);

  const candidate = await loadModel(ctx, input.model, 'model');
  try {
    const gateProblems = checkGateMetrics(gates, [...METRIC_NAMES[candidate.task]]);
    if (gateProblems.length) throw stepInputInvalid(ctx, `${candidate.task} model: ${gateProblems.join('; ')}`);
    const label = input.label ?? cardString(candidate.modelCard, 'label');
    if (!label) throw stepInputInvalid(ctx, 'with.label is required: the model card names no label');

    const holdout = await readDatasetTable(ctx.store, input.dataset);
    ctx.heartbeat({ phase: 'loaded', rows: holdout.numRows });
    const labelColumn = column(ctx, holdout, label);
    const labelled = labelledRows(labelColumn);
    if (labelled.length === 0) throw dataInvalid(ctx, `the holdout has no rows with a label "${label}"`);
    const table = labelled.length === holdout.numRows ? holdout : takeRows(holdout, labelled);
    const unlabelledRows = holdout.numRows - labelled.length;

    let labels: Float64Array;
    try {
      labels = encodeLabels(getColumn(table, label), candidate);
    } catch (err) {
      if (err instanceof LabelError) throw dataInvalid(ctx, err.message);
      throw err;
    }
    const scores = await score(ctx, candidate, table, input.batchSize, 'candidate');
    const { metrics, curves } = computeMetrics(candidate.task, labels, scores, input.threshold);

    const champion = input.champion
      ? await evaluateChampion(ctx, input.champion, candidate, table, label, input)
      : null;

    const results = evaluateGates(gates, metrics, champion?.metrics ?? null, { championError: champion?.error });
    const passed = results.every((r) => r.passed);

    const report: EvaluationReport = {
      format: 'mlpipe.evaluation',
      version: 1,
      createdAt: new Date().toISOString(),
      run: { runId: ctx.task.runId, pipeline: ctx.task.pipeline, stepId: ctx.task.stepId, attempt: ctx.attempt },
      model: {
        uri: input.model.uri,
        sha256: input.model.sha256,
        name: cardString(candidate.modelCard, 'name') ?? null,
        task: candidate.task,
        classes: candidate.classes ? [...candidate.classes] : null,
        features: candidate.features.map((f) => f.name),
      },
      dataset: {
        uri: input.dataset.uri,
        sha256: input.dataset.sha256,
        rows: holdout.numRows,
        scoredRows: table.numRows,
        unlabelledRows,
        label,
      },
      threshold: candidate.task === 'binary' ? input.threshold : null,
      metrics,
      curves,
      champion,
      comparison: champion?.metrics ? compareMetrics(metrics, champion.metrics) : [],
      gates: results,
      passed,
      importance: importanceFromCard(candidate.modelCard),
    };
    const json = await ctx.store.put(`${ctx.artifactPrefix}/report.json`, JSON.stringify(report, null, 2), {
      contentType: 'application/json',
    });
    const html = await ctx.store.put(`${ctx.artifactPrefix}/report.html`, renderReportHtml(report), {
      contentType: 'text/html; charset=utf-8',
    });
    const reportUris = { json: json.uri, html: html.uri };
    const sample = buildSmokeSample({
      table,
      scores,
      features: candidate.features,
      task: candidate.task,
      classes: candidate.classes,
      model: input.model,
    });
    const smokeRef = await ctx.store.put(`${ctx.artifactPrefix}/smoke.json`, JSON.stringify(sample), {
      contentType: 'application/json',
    });

    if (!passed) {
      throw ApplicationFailure.create({
        type: ErrorTypes.GateFailed,
        message: `${failedGateMessages(results).join('; ')} (report: ${html.uri})`,
        nonRetryable: true,
        details: [{ gates: results, metrics, report: reportUris }],
      });
    }
    return {
      metrics,
      champion: champion ? { metrics: champion.metrics, ...(champion.error ? { error: champion.error } : {}) } : null,
      gates: results,
      passed: true,
      report: reportUris,
      smoke: { uri: smokeRef.uri, sha256: smokeRef.sha256, rows: sample.rows.length },
    };
  } finally {
    await candidate.release();
  }
};

function parseInput(raw: unknown, ctx: StepContext) {
  const parsed = EvaluateInputSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw stepInputInvalid(ctx, formatWithIssues(parsed.error.issues));
  }
  return parsed.data;
}

type ArtifactRef = z.output<typeof ArtifactRefSchema>;

/** Reads (sha256-checked) and loads a model; a file that is not an mlpipe ONNX model is a permanent failure. */
async function loadModel(ctx: StepContext, ref: ArtifactRef, what: string): Promise<OnnxModel> {
  const bytes = await readVerified(ctx.store, ref);
  try {
    return await OnnxModel.load(bytes);
  } catch (err) {
    if (err instanceof OnnxModelError) throw stepInputInvalid(ctx, `${what} ${ref.uri}: ${err.message}`);
    throw err;
  }
}

async function score(
  ctx: StepContext,
  model: OnnxModel,
  table: Table,
  batchSize: number,
  which: 'candidate' | 'champion',
): Promise<OnnxScores> {
  try {
    return await model.score(table, {
      batchSize,
      signal: ctx.signal,
      onBatch: (rows, of) => ctx.heartbeat({ phase: 'scoring', model: which, rows, of }),
    });
  } catch (err) {
    if (which === 'candidate' && isDataMismatch(err)) throw dataInvalid(ctx, `holdout vs model: ${err.message}`);
    throw err;
  }
}

const isDataMismatch = (err: unknown): err is Error =>
  err instanceof FeatureMismatchError || err instanceof TableError || err instanceof LabelError;

/**
 * Scores the champion on the candidate's rows. An integrity failure fails the step; a champion that cannot be
 * scored on this data (other features, other task or classes) is recorded, and fails a vsChampion gate.
 */
async function evaluateChampion(
  ctx: StepContext,
  ref: ArtifactRef,
  candidate: OnnxModel,
  table: Table,
  label: string,
  input: { threshold: number; batchSize: number },
): Promise<ChampionSection> {
  const bytes = await readVerified(ctx.store, ref);
  const section = { uri: ref.uri, sha256: ref.sha256 };
  let champion: OnnxModel;
  try {
    champion = await OnnxModel.load(bytes);
  } catch (err) {
    if (err instanceof OnnxModelError) return { ...section, metrics: null, error: err.message };
    throw err;
  }
  try {
    if (champion.task !== candidate.task) {
      return { ...section, metrics: null, error: `it is a ${champion.task} model, the candidate ${candidate.task}` };
    }
    const labels = encodeLabels(getColumn(table, label), champion);
    const scores = await score(ctx, champion, table, input.batchSize, 'champion');
    const { metrics, curves } = computeMetrics(champion.task, labels, scores, input.threshold);
    return { ...section, metrics, curves };
  } catch (err) {
    if (isDataMismatch(err)) return { ...section, metrics: null, error: err.message };
    throw err;
  } finally {
    await champion.release();
  }
}

/** Metrics (NaN as null) and, for binary models, the curves of the report. */
function computeMetrics(
  task: OnnxTask,
  labels: Float64Array,
  scores: OnnxScores,
  threshold: number,
): { metrics: Metrics; curves: ModelCurves } {
  if (scores.kind === 'regression') {
    const m = regressionMetrics(labels, scores.values);
    return { metrics: metricsJson({ rmse: m.rmse, mae: m.mae, r2: m.r2, count: m.count }), curves: {} };
  }
  if (task === 'binary') {
    const positive = positiveProbabilities(scores);
    const m = binaryMetrics(labels, positive, threshold);
    const metrics = metricsJson({
      auc: m.auc,
      prAuc: m.averagePrecision,
      logLoss: m.logLoss,
      accuracy: m.accuracy,
      f1: m.f1,
      ece: m.ece,
      positiveRate: m.positiveRate,
      count: m.count,
    });
    return { metrics, curves: binaryCurves(labels, positive, threshold) };
  }
  const m = multiclassMetrics(labels, scores.probabilities, scores.numClasses);
  return {
    metrics: metricsJson({ accuracy: m.accuracy, macroF1: m.macroF1, logLoss: m.logLoss, count: m.count }),
    curves: {},
  };
}

/** Thrown when label values do not fit the model (a class it does not know, a category for a regressor). */
class LabelError extends Error {
  override readonly name = 'LabelError';
}

/** Indices of rows whose label is present. */
function labelledRows(column: Column): Int32Array {
  const out: number[] = [];
  if (column.kind === 'numeric') {
    for (let i = 0; i < column.values.length; i++) if (!Number.isNaN(column.values[i])) out.push(i);
  } else {
    for (let i = 0; i < column.codes.length; i++) if (column.codes[i] >= 0) out.push(i);
  }
  return Int32Array.from(out);
}

/**
 * Labels as the metrics read them: class indices of the model's classes (matched by name, so 0/1 numbers and
 * "0"/"1" strings both work), or regression targets. Rows without a label are dropped before.
 */
function encodeLabels(column: Column, model: OnnxModel): Float64Array {
  if (model.task === 'regression') {
    if (column.kind !== 'numeric') throw new LabelError(`label "${column.name}" must be numeric for a regressor`);
    return column.values;
  }
  const classes = model.classes ?? Array.from({ length: model.numClasses }, (_, k) => String(k));
  const index = new Map(classes.map((c, k) => [c, k]));
  const n = column.kind === 'numeric' ? column.values.length : column.codes.length;
  const out = new Float64Array(n);
  const unknown = new Set<string>();
  for (let i = 0; i < n; i++) {
    const name = column.kind === 'numeric' ? String(column.values[i]) : column.dictionary[column.codes[i]];
    const k = index.get(name);
    if (k === undefined) unknown.add(name);
    else out[i] = k;
  }
  if (unknown.size) {
    const examples = [...unknown].slice(0, 5).map((u) => JSON.stringify(u));
    throw new LabelError(
      `label "${column.name}" has values the model does not know: ${examples.join(', ')}` +
        `${unknown.size > 5 ? ', ...' : ''} (classes: ${classes.join(', ')})`,
    );
  }
  return out;
}

function column(ctx: StepContext, table: Table, name: string): Column {
  try {
    return getColumn(table, name);
  } catch (err) {
    throw dataInvalid(ctx, `label: ${(err as Error).message}`);
  }
}

function cardString(card: Record<string, unknown> | null, key: string): string | undefined {
  const v = card?.[key];
  return typeof v === 'string' && v ? v : undefined;
}

function dataInvalid(ctx: StepContext, message: string) {
  return ApplicationFailure.create({
    type: ErrorTypes.DataValidationFailed,
    message: `step "${ctx.task.stepId}": ${message}`,
    nonRetryable: true,
  });
}
