/**
 * The monitor's side effects (workflows/monitor.ts): read the prediction and feedback logs and compute drift and live
 * quality against the training reference, start a retraining run, roll production back, send an alert.
 */
import { ApplicationFailure, getClient, log } from '@temporalio/activity';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import { auc, rmse } from '../ml/metrics';
import { driftTable, PREDICTION_FEATURE, scoreDrift, type DriftRow, type LiveColumn } from '../ml/drift';
import { OnnxModel, type OnnxScores } from '../ml/onnx-scoring';
import { DEFAULT_SAMPLE_SIZE, profileTable, type TableProfile } from '../ml/profile';
import { createRng } from '../ml/random';
import { selectColumns, takeRows, type Table } from '../ml/table';
import { runSearchAttributes } from '../client/mlpipe-client';
import type { ArtifactStore } from '../storage/artifact-store';
import { getDataset } from '../storage/datasets';
import { readLog, type PredictionRecord } from '../storage/prediction-log';
import { AliasConflict, type ModelRegistry } from '../storage/registry';
import type { CheckResult, MonitorAlert, MonitorConfig, VersionQuality } from '../workflows/monitor-types';
import type { PipelineInput, Queues } from '../workflows/types';
import { arrowToTable } from './data/arrow';

/** Error types of the monitor's activities. */
export const MonitorErrorTypes = {
  /** The model version's card names no training data the monitor can find: re-register it with lineage. */
  ReferenceNotFound: 'ReferenceNotFound',
} as const;

/** What the monitor knows about a version's training data: the profile of its features and holdout scores. */
export interface MonitorReference {
  model: string;
  version: number;
  task: 'binary' | 'multiclass' | 'regression';
  classes: string[] | null;
  features: { name: string; kind: 'numeric' | 'categorical' }[];
  /** Profile of the training split, the model's features only. */
  profile: TableProfile;
  /** The model's scores (as serving logs them) on up to 10,000 holdout rows, ascending. */
  scores: number[];
}

/** Where a version's reference is cached: computed once per version, read by every later check. */
export const referenceKey = (model: string, version: number) => `monitoring/${model}/reference/v${version}.json`;

interface CardView {
  label?: string;
  classes?: string[] | null;
  features?: { name: string; kind: 'numeric' | 'categorical' }[];
  lineage?: { train?: string; valid?: string };
}

const notFound = (message: string) =>
  ApplicationFailure.create({ type: MonitorErrorTypes.ReferenceNotFound, message, nonRetryable: true });

export interface CheckModelInput {
  config: MonitorConfig;
  /** Version at alias production (the monitor's latest `deployed`). */
  version: number;
  /** The version it replaced, for the rollback comparison. */
  previousVersion?: number;
  /** Epoch ms of the deploy. */
  deployedAt?: number;
  /** Epoch ms: the end of the window (the workflow's clock). */
  now: number;
}

export const createMonitorActivities = (deps: { store: ArtifactStore; registry?: ModelRegistry }) => {
  const references = new Map<string, Promise<MonitorReference>>();
  const registry = () => {
    if (!deps.registry) throw new Error('the monitor needs a model registry (S3 store) on this worker');
    return deps.registry;
  };

  /**
   * The reference of a version: cached in the store under {@link referenceKey}; otherwise built from the training
   * split named in the card's lineage (its profile beside the dataset, `datasets/<sha256>.profile.json`, when the
   * ingest step wrote one with reference samples, else profiled here and stored there) and the model's scores on its
   * holdout (the valid split; the train split when there is none).
   */
  async function loadReference(model: string, version: number): Promise<MonitorReference> {
    const key = referenceKey(model, version);
    const cached = await deps.store.tryGet(key);
    if (cached) return JSON.parse(cached.toString('utf8')) as MonitorReference;
    const entry = await registry().getVersion(model, version);
    const card = entry.card as CardView;
    const train = card.lineage?.train;
    if (!train || !card.features?.length) {
      throw notFound(`${model} v${version}: the model card has no lineage.train or features; cannot build a reference`);
    }
    const names = card.features.map((f) => f.name);
    const trainTable = () => getDataset(deps.store, train).then((d) => arrowToTable(d.bytes));
    const profileKey = `datasets/${train}.profile.json`;
    let profile = await readProfile(profileKey);
    if (!profile || !hasSamples(profile, names)) {
      profile = profileTable(await trainTable());
      await deps.store.put(profileKey, JSON.stringify(profile), { contentType: 'application/json' });
    }
    const holdout = card.lineage?.valid
      ? arrowToTable((await getDataset(deps.store, card.lineage.valid)).bytes)
      : await trainTable();
    const onnx = await OnnxModel.load(await registry().loadModelBytes(model, version));
    let scores: Float64Array;
    try {
      scores = loggedScores(await onnx.score(sampleTable(holdout, names, DEFAULT_SAMPLE_SIZE)));
    } finally {
      await onnx.release();
    }
    const reference: MonitorReference = {
      model,
      version,
      task: onnx.task,
      classes: card.classes ?? null,
      features: card.features.map((f) => ({ name: f.name, kind: f.kind })),
      profile: { rows: profile.rows, columns: profile.columns.filter((c) => names.includes(c.name)) },
      scores: Array.from(scores.sort()),
    };
    await deps.store.put(key, JSON.stringify(reference), { contentType: 'application/json' });
    return reference;
  }

  async function readProfile(key: string): Promise<TableProfile | undefined> {
    const raw = await deps.store.tryGet(key);
    return raw ? (JSON.parse(raw.toString('utf8')) as TableProfile) : undefined;
  }

  const reference = (model: string, version: number) => {
    const id = `${model}@${version}`;
    let ref = references.get(id);
    if (!ref) {
      ref = loadReference(model, version);
      ref.catch(() => references.delete(id));
      references.set(id, ref);
    }
    return ref;
  };

  return {
    /**
     * One check: feature drift of the window's production and canary predictions against the deployed version's
     * training profile, prediction drift of that version's scores against its holdout scores, live quality per version
     * from the feedback log, and the before/after comparison of a fresh deploy.
     */
    async checkModel(input: CheckModelInput): Promise<CheckResult> {
      const { config, now } = input;
      const from = now - config.windowSeconds * 1000;
      const read = await readLog(deps.store, 'predictions', config.model, from, now, { maxRecords: config.maxRows });
      const served = read.records.filter((r) => r.role !== 'shadow');
      const result: CheckResult = {
        at: now,
        rows: served.length,
        verdict: 'insufficient-data',
        drift: [],
        driftedFeatures: [],
        predictionDrift: false,
        quality: [],
        ...(read.skipped ? { skipped: read.skipped } : {}),
      };
      const ref = await reference(config.model, input.version);

      const eventColumn = config.retrain?.eventTime?.column;
      if (eventColumn) {
        let max = -Infinity;
        for (const r of served) {
          const t = eventTimeOf(r.features[eventColumn]);
          if (t > max) max = t;
        }
        if (Number.isFinite(max)) result.maxEventTime = max;
      }

      // Quality: feedback can arrive long after the prediction, so read it up to now from the window's start.
      const earliest = Math.min(
        from,
        input.deployedAt !== undefined ? input.deployedAt - config.windowSeconds * 1000 : from,
      );
      const feedback = await readLog(deps.store, 'feedback', config.model, earliest, now + 1);
      const labels = new Map<string, string | number>();
      for (const f of feedback.records) labels.set(f.id, f.label);
      const minLabels = config.quality.minLabels;
      const measure = (version: number, records: PredictionRecord[], a: number, b: number) =>
        quality(version, records, labels, ref, config.quality.metric, minLabels, a, b);
      for (const version of [...new Set(served.map((r) => r.version))].sort((a, b) => a - b)) {
        result.quality.push(
          measure(
            version,
            served.filter((r) => r.version === version),
            from,
            now,
          ),
        );
      }
      if (config.rollback && input.previousVersion !== undefined && input.deployedAt !== undefined) {
        const before = await readLog(deps.store, 'predictions', config.model, earliest, input.deployedAt, {
          maxRecords: config.maxRows,
        });
        const since = await readLog(deps.store, 'predictions', config.model, input.deployedAt, now, {
          maxRecords: config.maxRows,
        });
        const pick = (records: PredictionRecord[], v: number) =>
          records.filter((r) => r.role !== 'shadow' && r.version === v);
        result.comparison = {
          current: measure(input.version, pick(since.records, input.version), input.deployedAt, now),
          previous: quality(
            input.previousVersion,
            pick(before.records, input.previousVersion),
            labels,
            ref,
            config.quality.metric,
            config.rollback.minLabels,
            earliest,
            input.deployedAt,
          ),
        };
      }

      if (served.length < config.minRows) return result;
      const live: Record<string, LiveColumn> = {};
      for (const f of ref.features) {
        live[f.name] =
          f.kind === 'numeric'
            ? Float64Array.from(served, (r) => toNumber(r.features[f.name]))
            : served.map((r) => {
                const v = r.features[f.name];
                return v === null || v === undefined ? null : String(v);
              });
      }
      const drift: DriftRow[] = driftTable(ref.profile, live, config.thresholds);
      const own = served.filter((r) => r.version === input.version);
      if (own.length >= config.minRows && ref.scores.length) {
        const value = scoreDrift(
          ref.scores,
          Float64Array.from(own, (r) => r.score),
        );
        const threshold = config.thresholds.predictionPsi;
        drift.push({
          feature: PREDICTION_FEATURE,
          statistic: 'psi',
          value: Number(value.toPrecision(6)),
          threshold,
          drifted: value > threshold,
        });
      }
      const known = new Set(ref.features.map((f) => f.name));
      const unknown = new Set<string>();
      for (const r of served.slice(-100)) for (const k of Object.keys(r.features)) if (!known.has(k)) unknown.add(k);
      unknown.delete(eventColumn ?? '');
      if (unknown.size) result.unknownFeatures = [...unknown].sort();

      result.drift = drift;
      result.driftedFeatures = [
        ...new Set(drift.filter((r) => r.drifted && r.feature !== PREDICTION_FEATURE).map((r) => r.feature)),
      ];
      result.predictionDrift = drift.some((r) => r.drifted && r.feature === PREDICTION_FEATURE);
      result.verdict =
        result.driftedFeatures.length >= config.thresholds.minDriftedFeatures || result.predictionDrift
          ? 'drift'
          : 'ok';
      return result;
    },

    /**
     * Starts the retraining pipeline as workflow `workflowId` on `taskQueue`; an existing run with that id is reused
     * (conflict policy use-existing), so every breach of one cooldown slot lands on one run.
     */
    async startRetrain(input: {
      model: string;
      pipeline: string;
      params: Record<string, unknown>;
      eventTime?: { column: string; windowDays: number; validDays: number };
      maxEventTime?: number;
      workflowId: string;
      taskQueue: string;
      queues?: Partial<Queues>;
      reason: string;
    }): Promise<{ workflowId: string; runId: string; params: Record<string, unknown> }> {
      const params = { ...input.params, ...retrainWindow(input.eventTime, input.maxEventTime) };
      const args: PipelineInput = {
        pipeline: input.pipeline,
        params,
        ...(input.queues ? { queues: input.queues } : {}),
      };
      const handle = await getClient().workflow.start('pipeline', {
        taskQueue: input.taskQueue,
        workflowId: input.workflowId,
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        args: [args],
        searchAttributes: runSearchAttributes(input.pipeline, 'monitor'),
        memo: { reason: input.reason, model: input.model },
      });
      log.info('retrain started', { model: input.model, workflowId: input.workflowId, reason: input.reason });
      return { workflowId: input.workflowId, runId: handle.firstExecutionRunId, params };
    },

    /**
     * Moves alias `production` from `from` back to `to`, only if it still points at `from`; the registry records the
     * reason in the alias history.
     */
    async rollBackModel(input: {
      model: string;
      from: number;
      to: number;
      reason: string;
      runId: string;
    }): Promise<{ rolledBack: boolean; detail?: string }> {
      try {
        await registry().setAlias(input.model, 'production', input.to, {
          expectedVersion: input.from,
          runId: input.runId,
          reason: input.reason,
          by: 'monitor',
        });
        return { rolledBack: true };
      } catch (err) {
        if (err instanceof AliasConflict) return { rolledBack: false, detail: err.message };
        throw err;
      }
    },

    /** Logs the alert and POSTs it to the webhook when there is one; a failed delivery is logged, never thrown. */
    async sendMonitorAlert(input: {
      model: string;
      kind: MonitorAlert['kind'];
      message: string;
      webhook?: string;
    }): Promise<{ delivered: boolean }> {
      log.warn(`monitor alert: ${input.message}`, { model: input.model, kind: input.kind });
      if (!input.webhook) return { delivered: false };
      try {
        const res = await fetch(input.webhook, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            source: 'mlpipe-monitor',
            model: input.model,
            kind: input.kind,
            message: input.message,
          }),
          signal: AbortSignal.timeout(5000),
        });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        return { delivered: true };
      } catch (err) {
        // The URL may carry a token: log its origin only.
        log.warn('monitor alert webhook failed', {
          origin: new URL(input.webhook).origin,
          error: (err as Error).message,
        });
        return { delivered: false };
      }
    },
  };
};

/** Whether every numeric feature of `names` has a reference sample (profiles written before samples had none). */
function hasSamples(profile: TableProfile, names: readonly string[]): boolean {
  return profile.columns.every((c) => !names.includes(c.name) || !c.numeric || (c.numeric.sample?.length ?? 0) > 0);
}

/** Up to `n` seeded random rows of the feature columns. */
function sampleTable(table: Table, names: readonly string[], n: number): Table {
  const features = selectColumns(table, names);
  if (table.numRows <= n) return features;
  const rng = createRng(0);
  const picked = Int32Array.from({ length: n }, () => rng.nextInt(table.numRows)).sort();
  return takeRows(features, picked);
}

/** Scores as serving logs them: positive-class probability, top-class probability, or the value. */
function loggedScores(scores: OnnxScores): Float64Array {
  if (scores.kind === 'regression') return Float64Array.from(scores.values);
  const k = scores.numClasses;
  const out = new Float64Array(scores.probabilities.length / k);
  for (let i = 0; i < out.length; i++) {
    if (k === 2) out[i] = scores.probabilities[2 * i + 1];
    else {
      let best = 0;
      for (let c = 0; c < k; c++) best = Math.max(best, scores.probabilities[i * k + c]);
      out[i] = best;
    }
  }
  return out;
}

const toNumber = (v: unknown): number =>
  typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;

/** Epoch ms of an event-time feature value (epoch ms or an ISO date), NaN when it is neither. */
function eventTimeOf(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Date.parse(v);
  return NaN;
}

const DAY_MS = 86_400_000;
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** `from`, `to`, `validFrom` of a retrain on the latest data serving saw; nothing without an event time. */
export function retrainWindow(
  eventTime: { windowDays: number; validDays: number } | undefined,
  maxEventTime: number | undefined,
): Record<string, string> {
  if (!eventTime || maxEventTime === undefined) return {};
  const to = Math.floor(maxEventTime / DAY_MS) * DAY_MS + DAY_MS;
  return {
    from: isoDay(to - eventTime.windowDays * DAY_MS),
    to: isoDay(to),
    validFrom: isoDay(to - eventTime.validDays * DAY_MS),
  };
}

/** The class index (binary: 0 / 1) or value of a feedback label. */
function labelValue(label: string | number, classes: string[] | null): number {
  if (classes) {
    const i = classes.indexOf(String(label));
    if (i >= 0) return i;
  }
  if (label === 'true') return 1;
  if (label === 'false') return 0;
  return Number(label);
}

/** Live quality of `version` over its predictions that have feedback. */
function quality(
  version: number,
  records: PredictionRecord[],
  labels: ReadonlyMap<string, string | number>,
  ref: MonitorReference,
  metric: VersionQuality['metric'],
  minLabels: number,
  from: number,
  to: number,
): VersionQuality {
  const y: number[] = [];
  const scores: number[] = [];
  const predicted: (string | number | null)[] = [];
  const truth: (string | number)[] = [];
  for (const r of records) {
    const label = labels.get(r.id);
    if (label === undefined) continue;
    y.push(labelValue(label, ref.classes));
    scores.push(r.score);
    predicted.push(r.label);
    truth.push(label);
  }
  let value: number | null = null;
  if (y.length >= minLabels) {
    if (metric === 'auc') value = auc(y, scores);
    else if (metric === 'rmse') value = rmse(y, scores);
    else {
      let right = 0;
      for (let i = 0; i < y.length; i++) {
        // Binary: the logged positive-class probability at 0.5; otherwise the logged predicted label.
        const hit =
          ref.task === 'binary' ? (scores[i] >= 0.5 ? 1 : 0) === y[i] : String(predicted[i]) === String(truth[i]);
        if (hit) right++;
      }
      value = right / y.length;
    }
    if (!Number.isFinite(value)) value = null;
  }
  return { version, metric, value, labels: y.length, predictions: records.length, from, to };
}
