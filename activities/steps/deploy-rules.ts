/**
 * The judgement of a `deploy` step, as pure functions: how instance counters become per-version deltas, when a
 * canary or a shadow passes, how quality is measured from the prediction and feedback logs. No I/O here, so each
 * rule is unit-tested on its own (deploy-rules.test.ts) and read in one place.
 */
import { auc } from '../../ml/metrics';
import type { FeedbackRecord, PredictionRecord } from '../../storage/prediction-log';
import { statsKey, type InstanceReport } from '../../storage/serving-state';

/** Request counters of one model version, summed over instances. */
export interface Totals {
  requests: number;
  errors: number;
  latencySumMs: number;
}

const zero = (): Totals => ({ requests: 0, errors: 0, latencySumMs: 0 });

/**
 * What the instances served for `model@version` between two snapshots of their reports, summed. Counters are
 * cumulative per process: an instance that restarted (other `startedAt`) or appeared in between counts from zero.
 */
export function statsDelta(
  before: readonly InstanceReport[],
  after: readonly InstanceReport[],
  model: string,
  version: number,
): Totals {
  const key = statsKey(model, version);
  const earlier = new Map(before.map((r) => [r.instanceId, r]));
  const sum = zero();
  for (const report of after) {
    const end = report.stats[key];
    if (!end) continue;
    const prior = earlier.get(report.instanceId);
    const start = prior && prior.startedAt === report.startedAt ? prior.stats[key] : undefined;
    const restarted = start && end.requests < start.requests;
    const base = start && !restarted ? start : zero();
    sum.requests += end.requests - base.requests;
    sum.errors += end.errors - base.errors;
    sum.latencySumMs += end.latencySumMs - base.latencySumMs;
  }
  return sum;
}

/** Error share of the requests (0 when there were none). */
export const errorRate = (t: Totals): number => (t.requests ? t.errors / t.requests : 0);

/** Mean latency in ms (0 when there were no requests). */
export const meanLatencyMs = (t: Totals): number => (t.requests ? t.latencySumMs / t.requests : 0);

/**
 * Latency means below this count as this much when compared: in-process models answer in well under a millisecond,
 * where a ratio measures timer noise, not the model.
 */
export const LATENCY_FLOOR_MS = 1;

/** One metric measured against its bound. */
export interface Check {
  metric: 'requests' | 'errorRate' | 'latency' | 'quality' | 'compared' | 'agreement';
  /** What was measured (for errorRate: the increase over production; latency: the ratio; quality: the drop). */
  value: number;
  bound: number;
  passed: boolean;
  /** A sentence naming the values, e.g. "error rate 0.12 vs production 0.00 (increase 0.12 > 0.01)". */
  detail: string;
}

export interface QualityArm {
  /** Predictions of this arm that have a feedback label. */
  labelled: number;
  /** The metric on them (NaN when it is undefined, e.g. AUC with one class). */
  value: number;
}

export interface Quality {
  metric: 'auc' | 'accuracy';
  canary: QualityArm;
  production: QualityArm;
}

export interface CanaryBounds {
  minRequests: number;
  maxErrorRateIncrease: number;
  maxLatencyRatio: number;
  maxQualityDrop: number;
  /** Quality is compared only when both arms have at least this many labelled predictions. */
  minLabels: number;
}

/**
 * The canary rule. The canary fails when it saw fewer than `minRequests` requests (too little to judge), when its
 * error rate exceeds production's by more than `maxErrorRateIncrease`, when its mean latency is more than
 * `maxLatencyRatio` times production's (both floored at {@link LATENCY_FLOOR_MS}), or, when both arms have
 * `minLabels` labelled predictions, when its quality is more than `maxQualityDrop` below production's.
 *
 * @returns every check in that order; the canary passes when all pass. Quality is absent when it could not be measured.
 */
export function judgeCanary(
  canary: Totals,
  production: Totals,
  quality: Quality | undefined,
  bounds: CanaryBounds,
): Check[] {
  const checks: Check[] = [
    {
      metric: 'requests',
      value: canary.requests,
      bound: bounds.minRequests,
      passed: canary.requests >= bounds.minRequests,
      detail: `canary served ${canary.requests} requests (min ${bounds.minRequests})`,
    },
    errorRateCheck(canary, production, bounds.maxErrorRateIncrease, 'canary'),
  ];
  const c = Math.max(meanLatencyMs(canary), LATENCY_FLOOR_MS);
  const p = Math.max(meanLatencyMs(production), LATENCY_FLOOR_MS);
  if (canary.requests && production.requests) {
    checks.push({
      metric: 'latency',
      value: c / p,
      bound: bounds.maxLatencyRatio,
      passed: c / p <= bounds.maxLatencyRatio,
      detail:
        `canary mean latency ${fmt(meanLatencyMs(canary))} ms vs production ${fmt(meanLatencyMs(production))} ms ` +
        `(ratio ${fmt(c / p)}, max ${bounds.maxLatencyRatio})`,
    });
  }
  if (quality && comparable(quality, bounds.minLabels)) {
    const drop = quality.production.value - quality.canary.value;
    checks.push({
      metric: 'quality',
      value: drop,
      bound: bounds.maxQualityDrop,
      passed: drop <= bounds.maxQualityDrop,
      detail:
        `canary ${quality.metric} ${fmt(quality.canary.value)} on ${quality.canary.labelled} labelled vs production ` +
        `${fmt(quality.production.value)} on ${quality.production.labelled} (drop ${fmt(drop)}, max ${bounds.maxQualityDrop})`,
    });
  }
  return checks;
}

const comparable = (q: Quality, minLabels: number): boolean =>
  q.canary.labelled >= minLabels &&
  q.production.labelled >= minLabels &&
  Number.isFinite(q.canary.value) &&
  Number.isFinite(q.production.value);

function errorRateCheck(candidate: Totals, production: Totals, maxIncrease: number, role: string): Check {
  const increase = errorRate(candidate) - errorRate(production);
  return {
    metric: 'errorRate',
    value: increase,
    bound: maxIncrease,
    passed: increase <= maxIncrease,
    detail:
      `${role} error rate ${fmt(errorRate(candidate))} (${candidate.errors}/${candidate.requests}) vs production ` +
      `${fmt(errorRate(production))} (${production.errors}/${production.requests}): increase ${fmt(increase)}, max ${maxIncrease}`,
  };
}

/**
 * Quality of each arm from the logs: predictions of that version and role joined with feedback by request id. Binary
 * models use AUC of the positive-class score (labels matched to `positiveClass` by name, so 1 and "1" agree) unless
 * `metric` says accuracy; other classifiers use accuracy of the predicted label. Regressors have no quality here.
 */
export function measureQuality(input: {
  predictions: readonly PredictionRecord[];
  feedback: readonly FeedbackRecord[];
  canaryVersion: number;
  productionVersion: number;
  task: 'binary' | 'multiclass' | 'regression';
  /** Name of class 1 of a binary model. */
  positiveClass: string;
  metric?: 'auc' | 'accuracy';
}): Quality | undefined {
  if (input.task === 'regression') return undefined;
  const metric = input.task === 'binary' ? (input.metric ?? 'auc') : 'accuracy';
  const truth = new Map(input.feedback.map((f) => [f.id, String(f.label)]));
  const arm = (role: 'canary' | 'production', version: number): QualityArm => {
    const labels: number[] = [];
    const scores: number[] = [];
    let correct = 0;
    for (const p of input.predictions) {
      if (p.role !== role || p.version !== version) continue;
      const label = truth.get(p.id);
      if (label === undefined) continue;
      labels.push(label === input.positiveClass ? 1 : 0);
      scores.push(p.score);
      if (p.label !== null && String(p.label) === label) correct++;
    }
    const value = labels.length === 0 ? NaN : metric === 'auc' ? auc(labels, scores) : correct / labels.length;
    return { labelled: labels.length, value };
  };
  return { metric, canary: arm('canary', input.canaryVersion), production: arm('production', input.productionVersion) };
}

export interface ShadowBounds {
  /** Paired requests needed to judge. */
  minCompared: number;
  /** Share of paired requests on which the shadow must agree with production. */
  minAgreement: number;
  /** Regressors: scores within this absolute distance agree. */
  tolerance: number;
  maxErrorRateIncrease: number;
}

/**
 * The shadow rule. Every request that production answered and the shadow also scored (same request id in the
 * prediction log, roles `production` and `shadow`) is a pair; a pair agrees when both predicted the same label
 * (classifiers) or their scores are within `tolerance` (regressors). The shadow passes with at least `minCompared`
 * pairs, an agreement rate of at least `minAgreement`, and an error rate at most `maxErrorRateIncrease` above
 * production's (from the instances' counters).
 */
export function judgeShadow(
  predictions: readonly PredictionRecord[],
  shadowVersion: number,
  productionVersion: number,
  shadow: Totals,
  production: Totals,
  bounds: ShadowBounds,
): { checks: Check[]; compared: number; agreement: number } {
  const served = new Map<string, PredictionRecord>();
  for (const p of predictions) if (p.role === 'production' && p.version === productionVersion) served.set(p.id, p);
  let compared = 0;
  let agreed = 0;
  for (const s of predictions) {
    if (s.role !== 'shadow' || s.version !== shadowVersion) continue;
    const p = served.get(s.id);
    if (!p) continue;
    compared++;
    const same =
      p.label !== null && s.label !== null
        ? String(p.label) === String(s.label)
        : Math.abs(p.score - s.score) <= bounds.tolerance;
    if (same) agreed++;
  }
  const agreement = compared ? agreed / compared : 0;
  const checks: Check[] = [
    {
      metric: 'compared',
      value: compared,
      bound: bounds.minCompared,
      passed: compared >= bounds.minCompared,
      detail: `${compared} requests scored by both production and shadow (min ${bounds.minCompared})`,
    },
    {
      metric: 'agreement',
      value: agreement,
      bound: bounds.minAgreement,
      passed: compared > 0 && agreement >= bounds.minAgreement,
      detail: `shadow agreed with production on ${agreed}/${compared} (${fmt(agreement)}, min ${bounds.minAgreement})`,
    },
    errorRateCheck(shadow, production, bounds.maxErrorRateIncrease, 'shadow'),
  ];
  return { checks, compared, agreement };
}

const fmt = (v: number): string => (Number.isFinite(v) ? String(Math.round(v * 10_000) / 10_000) : String(v));
