/**
 * The evaluation report: one JSON document with everything the HTML page shows, so a person (or a later step)
 * can read why a model passed or failed without rerunning anything.
 */
import { calibrationCurve, rocCurve, type CalibrationBin } from '../../ml';
import { lowerIsBetter, type GateResult } from '../../ml/gates';
import type { OnnxTask } from '../../ml/onnx-scoring';

/** Metric values by name; null where a metric is undefined on the data (AUC with one class). */
export type Metrics = Record<string, number | null>;

export interface ArtifactInfo {
  uri: string;
  sha256: string;
}

export interface CurvePoints {
  fpr: number[];
  tpr: number[];
}

/** What was scored and how, for one model. */
export interface ModelCurves {
  /** Binary only: ROC points, thinned to at most a few hundred. */
  roc?: CurvePoints;
  /** Binary only: equal-width reliability bins (empty bins dropped). */
  calibration?: CalibrationBin[];
  /** Binary only: confusion counts at the threshold. */
  confusion?: { tp: number; fp: number; tn: number; fn: number };
}

export interface FeatureImportanceEntry {
  feature: string;
  importance: number;
  share: number;
}

export interface ChampionSection extends ArtifactInfo {
  /** Null when the champion could not be scored on this data (see `error`). */
  metrics: Metrics | null;
  error?: string;
  curves?: ModelCurves;
}

/** One row of the candidate-vs-champion table. */
export interface Comparison {
  metric: string;
  candidate: number | null;
  champion: number | null;
  /** candidate − champion. */
  delta: number | null;
  /** Whether the candidate is better (direction-aware); null when either value is missing or they are equal. */
  candidateBetter: boolean | null;
}

export interface EvaluationReport {
  format: 'mlpipe.evaluation';
  version: 1;
  createdAt: string;
  run: { runId: string; pipeline: string; stepId: string; attempt: number };
  model: ArtifactInfo & { name: string | null; task: OnnxTask; classes: string[] | null; features: string[] };
  dataset: ArtifactInfo & { rows: number; scoredRows: number; unlabelledRows: number; label: string };
  /** Binary only: probability at or above which a row is predicted positive. */
  threshold: number | null;
  metrics: Metrics;
  curves: ModelCurves;
  champion: ChampionSection | null;
  comparison: Comparison[];
  gates: GateResult[];
  passed: boolean;
  /** From the model card; null when it has none. */
  importance: FeatureImportanceEntry[] | null;
}

/** Most ROC points kept: enough for a smooth curve at any plotted size, small enough for the JSON. */
const MAX_ROC_POINTS = 400;

/** ROC points with successive points at least ~1/400 apart in fpr or tpr; the first and last are kept. */
export function thinRoc(labels: ArrayLike<number>, scores: ArrayLike<number>): CurvePoints {
  const { fpr, tpr } = rocCurve(labels, scores);
  const out: CurvePoints = { fpr: [], tpr: [] };
  const step = 1 / MAX_ROC_POINTS;
  let lastF = -Infinity;
  let lastT = -Infinity;
  for (let i = 0; i < fpr.length; i++) {
    const last = i === fpr.length - 1;
    if (!last && i > 0 && Math.abs(fpr[i] - lastF) < step && Math.abs(tpr[i] - lastT) < step) continue;
    if (Number.isNaN(fpr[i]) || Number.isNaN(tpr[i])) continue;
    out.fpr.push(round(fpr[i]));
    out.tpr.push(round(tpr[i]));
    lastF = fpr[i];
    lastT = tpr[i];
  }
  return out;
}

/** Curves of a binary model: ROC, reliability bins and confusion counts. */
export function binaryCurves(labels: ArrayLike<number>, positive: ArrayLike<number>, threshold: number): ModelCurves {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < labels.length; i++) {
    const predicted = positive[i] >= threshold;
    const actual = labels[i] > 0.5;
    if (predicted && actual) tp++;
    else if (predicted) fp++;
    else if (actual) fn++;
    else tn++;
  }
  return {
    roc: thinRoc(labels, positive),
    calibration: calibrationCurve(labels, positive, 10)
      .filter((b) => b.count > 0)
      .map((b) => ({ ...b, meanPredicted: round(b.meanPredicted), fractionPositive: round(b.fractionPositive) })),
    confusion: { tp, fp, tn, fn },
  };
}

/** The candidate-vs-champion table over the metrics both have. */
export function compareMetrics(candidate: Metrics, champion: Metrics): Comparison[] {
  return Object.keys(candidate)
    .filter((metric) => metric in champion && metric !== 'count')
    .map((metric) => {
      const a = candidate[metric];
      const b = champion[metric];
      const delta = a !== null && b !== null ? a - b : null;
      const candidateBetter = delta === null || delta === 0 ? null : lowerIsBetter(metric) ? delta < 0 : delta > 0;
      return { metric, candidate: a, champion: b, delta, candidateBetter };
    });
}

/**
 * Feature importance from a model card: `importance` (or `metrics.importance`) as a list of
 * `{ feature, importance, share? }` or a `{ feature: importance }` map. Null when the card has none.
 */
export function importanceFromCard(card: Record<string, unknown> | null): FeatureImportanceEntry[] | null {
  if (!card) return null;
  const metrics = card.metrics as Record<string, unknown> | undefined;
  const raw = card.importance ?? (metrics && typeof metrics === 'object' ? metrics.importance : undefined);
  let entries: { feature: string; importance: number }[];
  if (Array.isArray(raw)) {
    entries = raw
      .filter((e): e is Record<string, unknown> => !!e && typeof e === 'object')
      .map((e) => ({ feature: String(e.feature ?? e.name), importance: Number(e.importance ?? e.gain) }));
  } else if (raw && typeof raw === 'object') {
    entries = Object.entries(raw as Record<string, unknown>).map(([feature, v]) => ({
      feature,
      importance: Number(v),
    }));
  } else {
    return null;
  }
  entries = entries.filter((e) => Number.isFinite(e.importance) && e.importance >= 0);
  if (!entries.length) return null;
  const total = entries.reduce((s, e) => s + e.importance, 0);
  return entries
    .map((e) => ({ ...e, share: total ? e.importance / total : 0 }))
    .sort((a, b) => b.importance - a.importance);
}

/** NaN → null, so metrics survive JSON as "no value" rather than silently as null-or-number. */
export function metricsJson(metrics: Readonly<Record<string, number>>): Metrics {
  return Object.fromEntries(Object.entries(metrics).map(([k, v]) => [k, Number.isFinite(v) ? v : null]));
}

const round = (x: number): number => Math.round(x * 1e6) / 1e6;
