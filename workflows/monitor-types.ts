/**
 * The contract of the model monitor (workflows/monitor.ts): its config (zod schema + types, validated by the deploy
 * step that starts it), signals, query, and the shapes its activities (activities/monitor.ts) return. No I/O here:
 * the workflow bundle imports this file.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { z } from 'zod';
import type { DriftRow } from '../ml/drift';

/** Workflow type of the monitor. */
export const MONITOR_WORKFLOW_TYPE = 'monitor';

/** The one monitor of a model: `monitor:<model>` (signalWithStart from the deploy step finds it by this id). */
export const monitorWorkflowId = (model: string): string => `monitor:${model}`;

const ISO_DAYS = z.number().int().positive().max(3650);

export const MonitorThresholdsSchema = z.strictObject({
  /** Feature PSI above this is drift. @default 0.2 */
  psi: z.number().positive().default(0.2),
  /** Kolmogorov–Smirnov statistic (not p-value) above this is drift. @default 0.15 */
  ks: z.number().positive().max(1).default(0.15),
  /** Chi-square p-value below this is drift. @default 0.001 */
  chiSquareP: z.number().positive().max(1).default(0.001),
  /** PSI of the score distribution above this is prediction drift. @default 0.2 */
  predictionPsi: z.number().positive().default(0.2),
  /** A check breaches when at least this many features drift (or the prediction does). @default 1 */
  minDriftedFeatures: z.number().int().positive().default(1),
});

export const MonitorConfigSchema = z.strictObject({
  /** Registry name of the model. */
  model: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'expected a registry model name'),
  /** Seconds between checks. @default 60 */
  intervalSeconds: z.number().int().min(1).max(86_400).default(60),
  /** The recent prediction-log window a check reads, in seconds. @default 600 */
  windowSeconds: z
    .number()
    .int()
    .min(1)
    .max(30 * 86_400)
    .default(600),
  /** Fewer predictions in the window: "insufficient data", no verdict. @default 200 */
  minRows: z.number().int().min(1).default(200),
  /** Predictions read per check at most (the newest are kept). @default 200000 */
  maxRows: z.number().int().min(1).max(2_000_000).default(200_000),
  thresholds: MonitorThresholdsSchema.default(MonitorThresholdsSchema.parse({})),
  quality: z
    .strictObject({
      /** Live metric per version from the feedback log (auc: binary models). @default auc */
      metric: z.enum(['auc', 'accuracy', 'rmse']).default('auc'),
      /** Labelled predictions a version needs before its quality is reported. @default 200 */
      minLabels: z.number().int().min(1).default(200),
    })
    .default({ metric: 'auc', minLabels: 200 }),
  /** What to run when drift breaches the thresholds; absent: alert only. */
  retrain: z
    .strictObject({
      /** Pipeline name known to the workers (workflow type `pipeline`). */
      pipeline: z.string().min(1),
      params: z.record(z.string(), z.unknown()).default({}),
      /** At most one retrain per this many seconds. @default 3600 */
      cooldownSeconds: z.number().int().min(1).default(3600),
      /**
       * Retrain on the most recent data serving saw: `to` = the day after the latest `column` value in the window,
       * `from` = to − windowDays, `validFrom` = to − validDays (ISO dates, passed as params).
       */
      eventTime: z
        .strictObject({ column: z.string().min(1), windowDays: ISO_DAYS, validDays: ISO_DAYS })
        .refine((e) => e.validDays < e.windowDays, 'validDays must be less than windowDays')
        .optional(),
    })
    .optional(),
  /** Roll production back when a new version's live quality is worse than its predecessor's. */
  rollback: z
    .strictObject({
      /** Worse by more than this (in the metric's units) rolls back. @default 0.02 */
      margin: z.number().min(0).default(0.02),
      /** Labels each version needs before they are compared. @default 200 */
      minLabels: z.number().int().min(1).default(200),
    })
    .optional(),
  /** POST JSON alerts here; failures are logged and never stop the monitor. */
  alertWebhook: z.url({ protocol: /^https?$/ }).optional(),
  /** Checks per workflow run before continue-as-new (history stays small). @default 100 */
  continueAsNewAfter: z.number().int().min(1).max(10_000).default(100),
  /** Task queues: activities on `cpu`, retrain runs on `workflows`. @default mlpipe-cpu, the monitor's own queue */
  queues: z.strictObject({ workflows: z.string().min(1).optional(), cpu: z.string().min(1).optional() }).optional(),
});
/** What the deploy step's `monitor:` block and `signalWithStart` args take (defaults filled in by the monitor). */
export type MonitorConfigInput = z.input<typeof MonitorConfigSchema>;
/** The config with every default applied. */
export type MonitorConfig = z.output<typeof MonitorConfigSchema>;

/** Signal `deployed`: a version went to production (sent with signalWithStart by the deploy step). */
export interface DeployedEvent {
  version: number;
  /** The version it replaced; with `rollback` configured, the one the monitor may roll back to. */
  previousVersion?: number | null;
  /** The pipeline run that deployed it. */
  runId?: string;
  /** A new config (thresholds, retrain, ...) replacing the running one. */
  config?: MonitorConfigInput;
}

/** Live quality of one version over the labelled predictions of a window. */
export interface VersionQuality {
  version: number;
  metric: 'auc' | 'accuracy' | 'rmse';
  /** NaN-free: null when there were fewer labels than needed. */
  value: number | null;
  labels: number;
  predictions: number;
  /** Epoch ms of the window measured. */
  from: number;
  to: number;
}

/** What one check found (small: the drift table has a few rows per feature). */
export interface CheckResult {
  at: number;
  /** Predictions read (production and canary). */
  rows: number;
  verdict: 'ok' | 'drift' | 'insufficient-data';
  drift: DriftRow[];
  driftedFeatures: string[];
  predictionDrift: boolean;
  /** Live quality per version in the window. */
  quality: VersionQuality[];
  /** Deployed version since the deploy vs the previous version before it (for rollback). */
  comparison?: { current: VersionQuality; previous: VersionQuality };
  /** Latest event time (retrain.eventTime.column) seen in the window, epoch ms. */
  maxEventTime?: number;
  /** Logged features the training profile does not know. */
  unknownFeatures?: string[];
  /** Log lines that did not parse. */
  skipped?: number;
}

export interface MonitorAlert {
  at: number;
  kind: 'drift' | 'rollback' | 'retrain' | 'error';
  message: string;
  /** Webhook delivery: undefined without a webhook. */
  delivered?: boolean;
}

export interface RetrainRecord {
  at: number;
  workflowId: string;
  pipeline: string;
  params: Record<string, unknown>;
  reason: string;
}

export interface RollbackRecord {
  at: number;
  from: number;
  to: number;
  reason: string;
}

/** State carried across continue-as-new. */
export interface MonitorState {
  paused: boolean;
  deployment?: { version: number; previousVersion?: number | null; runId?: string; deployedAt: number };
  /** Completed checks over the monitor's whole life (a failed check counts; see `lastError`). */
  checks: number;
  lastCheck?: CheckResult;
  lastError?: { at: number; message: string };
  /** Latest quality per version (last measured). */
  quality: Record<string, VersionQuality>;
  /** Newest last, at most {@link MONITOR_HISTORY_LIMIT} each. */
  alerts: MonitorAlert[];
  retrains: RetrainRecord[];
  rollbacks: RollbackRecord[];
  /** Whether the previous check breached (alerts fire on the way in, not every interval). */
  breached: boolean;
  /** Workflow run ids of this monitor so far (continue-as-new chain), newest last. */
  runs: string[];
  /** A `checkNow` received while the previous run was continuing as new. */
  pendingCheck?: boolean;
}

/** Lists in the state keep this many entries. */
export const MONITOR_HISTORY_LIMIT = 50;

/** Query `status`. */
export interface MonitorStatus extends MonitorState {
  config: MonitorConfig;
  /** Checks in this workflow run (continue-as-new resets it). */
  checksThisRun: number;
}

export const deployedSignal = defineSignal<[DeployedEvent]>('deployed');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const checkNowSignal = defineSignal('checkNow');
export const monitorStatusQuery = defineQuery<MonitorStatus>('status');
