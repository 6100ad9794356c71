/**
 * `deploy` and `deploy.rollback`: move a registered model version into serving, prove that serving answers with it,
 * and undo it when it does not.
 *
 * The control plane talks to serving through the object store only (storage/serving-state.ts): the registry's alias
 * `production` (and `candidate`) says which version serves, `serving/traffic/<model>.json` how traffic is split, and
 * every serving instance rewrites `serving/instances/<id>.json` with what it has loaded and per-version counters.
 * The step waits on those reports, then calls each instance's HTTP API directly for the smoke test.
 *
 * Strategies:
 * - `direct`: promote, wait until every live instance serves the version, smoke-test and health-check every instance.
 * - `canary`: alias `candidate` + traffic `canary` (a share of requests answered by the candidate); soak; compare
 *   with production (rules in deploy-rules.ts); promote as `direct`, or end the trial and fail.
 * - `shadow`: as canary, but the candidate only scores (its answers are logged, never returned); the comparison is
 *   agreement with production on the same requests.
 *
 * A failed check (timeout, smoke, health, canary, shadow) or a cancellation puts things back first (previous
 * production, traffic `none`, previous candidate); a failed check then fails the step with a non-retryable error from
 * {@link DeployErrorTypes} naming what was seen. Transient errors (store or network down) are rethrown as they are, so
 * the attempt is retried; a retried attempt repeats the same conditional writes, which are no-ops when the first
 * attempt already made them (the alias history keeps one change per move, with the run id).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import { parseDuration } from '../../definitions/duration';
import { DurationSchema } from '../../definitions/schema';
import { readLog } from '../../storage/prediction-log';
import { MODEL_NAME_PATTERN, type AliasState, type ModelRegistry } from '../../storage/registry';
import {
  liveInstances,
  readTraffic,
  statsKey,
  writeTraffic,
  type InstanceReport,
  type TrafficConfig,
} from '../../storage/serving-state';
import {
  deployedSignal,
  MONITOR_WORKFLOW_TYPE,
  MonitorConfigSchema,
  monitorWorkflowId,
  type MonitorConfigInput,
} from '../../workflows/monitor-types';
import { queues } from '../../workflows/queues';
import { smokeTest, SmokeTestFailed, type SmokeTestResult } from '../../serving/smoke-test';
import { readVerified } from '../data/dataset-ref';
import {
  judgeCanary,
  judgeShadow,
  measureQuality,
  statsDelta,
  type Check,
  type Quality,
  type Totals,
} from './deploy-rules';
import { compareSmokeScores, SmokeSampleSchema, type SmokeSample } from './smoke-sample';
import { failOnRegistryErrors, formatWithIssues, parseStepInput, registryOf, stepInputInvalid } from './step-input';
import type { StepContext, StepHandler } from './types';

/** Error types of `deploy`: each is non-retryable, and serving is back on the previous version when it is thrown. */
export const DeployErrorTypes = {
  /** Serving instances did not report the version within `waitTimeout` (named, with their last load error). */
  DeployTimedOut: 'DeployTimedOut',
  /** An instance answered the smoke rows with other scores than evaluation gave (instance, row, both values). */
  DeploySmokeFailed: 'DeploySmokeFailed',
  /** An instance was not ready, or counted errors for the version during the check. */
  DeployHealthFailed: 'DeployHealthFailed',
  /** The canary did worse than production on a metric (named, with both values and the bound). */
  CanaryFailed: 'CanaryFailed',
  /** The shadow disagreed with production too often, erred more, or saw too few requests. */
  ShadowFailed: 'ShadowFailed',
} as const;
export type DeployErrorType = (typeof DeployErrorTypes)[keyof typeof DeployErrorTypes];

const PRODUCTION = 'production';
const CANDIDATE = 'candidate';
/** How often the step re-reads the instances' reports while waiting. */
const POLL_MS = 500;
/** One HTTP call to an instance (ready, infer). */
const HTTP_TIMEOUT_MS = 15_000;
/** Serving flushes its prediction and feedback logs every 2 s: wait this long after a soak before reading them. */
const LOG_SETTLE_MS = 2_500;

const ArtifactRefSchema = z.object({ uri: z.string().min(1), sha256: z.string().regex(/^[a-f0-9]{64}$/) }).loose();

const CanarySchema = z.strictObject({
  /** Share of requests the candidate answers, (0, 1]. @default 0.1 */
  share: z.number().gt(0).max(1).default(0.1),
  /** How long the canary takes traffic before it is judged. @default '5m' */
  soak: DurationSchema.default('5m'),
  /** Canary requests needed to judge at all. @default 100 */
  minRequests: z.number().int().nonnegative().default(100),
  /** Largest allowed increase of the error rate over production's. @default 0.01 */
  maxErrorRateIncrease: z.number().min(0).default(0.01),
  /** Largest allowed ratio of mean latencies, canary / production. @default 2 */
  maxLatencyRatio: z.number().positive().default(2),
  /** Largest allowed quality drop (AUC for binary models, accuracy otherwise) when feedback labels exist. @default 0.02 */
  maxQualityDrop: z.number().min(0).default(0.02),
  /** Labelled predictions each arm needs before quality is compared. @default 50 */
  minLabels: z.number().int().positive().default(50),
  /** Quality metric of binary models. @default 'auc' */
  qualityMetric: z.enum(['auc', 'accuracy']).default('auc'),
});

const ShadowSchema = z.strictObject({
  /** How long the shadow scores traffic before it is judged. @default '5m' */
  soak: DurationSchema.default('5m'),
  /** Requests scored by both production and shadow needed to judge. @default 100 */
  minCompared: z.number().int().nonnegative().default(100),
  /** Share of those on which both predict the same label (regressors: scores within `tolerance`). @default 0.9 */
  minAgreement: z.number().min(0).max(1).default(0.9),
  /** Regressors: absolute score difference that still counts as agreeing. @default 0.1 */
  tolerance: z.number().min(0).default(0.1),
  /** Largest allowed increase of the error rate over production's. @default 0.01 */
  maxErrorRateIncrease: z.number().min(0).default(0.01),
});

export const DeployInputSchema = z.strictObject({
  /** Registered model name. */
  name: z.string().regex(MODEL_NAME_PATTERN, 'expected a model name: letters, digits, . _ - (at most 128)'),
  /** The version to deploy (a register step's `version` output). */
  version: z.coerce.number().int().positive(),
  /** @default 'direct' */
  strategy: z.enum(['direct', 'shadow', 'canary']).default('direct'),
  /** An evaluate step's `smoke` output; without it only the health check runs. */
  smoke: ArtifactRefSchema.nullable().default(null),
  /** Largest allowed difference between a served score and the evaluated one. @default 1e-6 */
  smokeTolerance: z.number().min(0).default(1e-6),
  /** How long every live serving instance has to report the version. @default '60s' */
  waitTimeout: DurationSchema.default('60s'),
  /** Live serving instances that must take part; 0 allows promoting with no serving running. @default 1 */
  minInstances: z.number().int().nonnegative().default(1),
  /** Why, recorded with the alias change. @default 'deploy (<strategy>)' */
  reason: z.string().max(500).optional(),
  canary: CanarySchema.default(CanarySchema.parse({})),
  shadow: ShadowSchema.default(ShadowSchema.parse({})),
  /** Start (or tell) the model's monitor workflow `monitor:<name>` after a successful deploy, with this config. */
  monitor: z.record(z.string(), z.unknown()).optional(),
});
export type DeployInput = z.input<typeof DeployInputSchema>;
type Deploy = z.output<typeof DeployInputSchema>;

export const DeployRollbackInputSchema = z.strictObject({
  name: z.string().regex(MODEL_NAME_PATTERN, 'expected a model name: letters, digits, . _ - (at most 128)'),
  /** The production version to put back (`deploy`'s `previous` output); null removes the alias. */
  restore: z.coerce.number().int().positive().nullable(),
  /** @default '60s' */
  waitTimeout: DurationSchema.default('60s'),
});
export type DeployRollbackInput = z.input<typeof DeployRollbackInputSchema>;

/** What one trial (canary or shadow) measured, in the step's outputs. */
export interface TrialOutputs {
  soakMs: number;
  candidate: Totals;
  production: Totals;
  quality?: Quality;
  agreement?: number;
  checks: Check[];
}

/** The step's outputs. */
export interface DeployOutputs {
  name: string;
  version: number;
  /** Production before this step (what `deploy.rollback` restores), or null when there was none. */
  previous: number | null;
  strategy: 'direct' | 'shadow' | 'canary';
  /** Ids of the serving instances that took part. */
  instances: string[];
  smoke: { rows: number; maxAbsDiff: number | null };
  canary?: TrialOutputs;
  shadow?: TrialOutputs;
  /** The monitor workflow started or told, when `with.monitor` is set. */
  monitor?: { workflowId: string };
}

/**
 * `deploy`: promotes a registered version to alias `production` by one of three strategies (see the module comment)
 * and proves every live serving instance answers with it.
 *
 * @example
 * deploy:
 *   uses: deploy
 *   with: { name: flights-delay, version: '${{ steps.register.outputs.version }}', smoke: '${{ steps.evaluate.outputs.smoke }}' }
 *   rollback:
 *     uses: deploy.rollback
 *     with: { name: flights-delay, restore: '${{ steps.deploy.outputs.previous }}' }
 */
export const deploy: StepHandler = async (raw, ctx): Promise<DeployOutputs> => {
  const input = parseStepInput(DeployInputSchema, raw, ctx);
  const monitor = input.monitor && monitorConfig(input.name, input.monitor, ctx);
  const result = await failOnRegistryErrors(() => new Deployment(ctx, input).run());
  if (monitor) result.monitor = await startMonitor(monitor, result, ctx);
  return result;
};

/**
 * `deploy.rollback`: puts production back on `restore` (or removes it), resets traffic to `none` and waits until every
 * live instance serves it. The compensation of `deploy` when a later step fails.
 */
export const deployRollback: StepHandler = async (raw, ctx) => {
  const input = parseStepInput(DeployRollbackInputSchema, raw, ctx);
  const registry = registryOf(ctx);
  const runId = ctx.task.runId;
  return failOnRegistryErrors(async () => {
    const traffic = await readTraffic(ctx.store, input.name);
    if (traffic.mode !== 'none') await setTraffic(ctx, input.name, 'none', null, 0);
    const opts = { runId, reason: 'rollback' };
    const update =
      input.restore === null
        ? await registry.removeAlias(input.name, PRODUCTION, opts)
        : await registry.setAlias(input.name, PRODUCTION, input.restore, opts);
    const waited = await waitForServing(ctx, {
      name: input.name,
      want: { production: input.restore },
      timeoutMs: parseDuration(input.waitTimeout),
      minInstances: 0,
      signal: ctx.signal,
    });
    if (!waited.ok) {
      // Retryable: an instance that is slow to reload may well have switched by the next attempt.
      throw ApplicationFailure.create({
        type: DeployErrorTypes.DeployTimedOut,
        message: `rollback of "${input.name}" to ${fmtVersion(input.restore)}: ${waited.problem}`,
      });
    }
    return {
      name: input.name,
      version: input.restore,
      changed: update?.changed ?? false,
      instances: waited.reports.map((r) => r.instanceId),
    };
  });
};

/** The monitor's config from `with.monitor` (its model is the deployed one), checked before anything moves. */
function monitorConfig(name: string, raw: Record<string, unknown>, ctx: StepContext): MonitorConfigInput {
  const config = { ...raw, model: name };
  const parsed = MonitorConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw stepInputInvalid(ctx, formatWithIssues(parsed.error.issues, 'with.monitor'));
  }
  return config as MonitorConfigInput;
}

/** A check failed: thrown inside the flow, turned into the step's failure once things are put back. */
class CheckFailed extends Error {
  constructor(
    readonly type: DeployErrorType,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** One run of the `deploy` step. */
class Deployment {
  private readonly registry: ModelRegistry;
  private readonly runId: string;
  private readonly waitMs: number;
  private sample: SmokeSample | null | undefined;

  constructor(
    private readonly ctx: StepContext,
    private readonly input: Deploy,
  ) {
    this.registry = registryOf(ctx);
    this.runId = ctx.task.runId;
    this.waitMs = parseDuration(input.waitTimeout);
  }

  async run(): Promise<DeployOutputs> {
    const { name, version, strategy } = this.input;
    await this.registry.getVersion(name, version); // ModelNotFound before anything moves
    this.sample = await this.loadSample();
    if (strategy === 'direct') return { strategy, ...(await this.promote()) };
    const production = await this.registry.getAlias(name, PRODUCTION);
    if (!production) {
      throw stepInputInvalid(
        this.ctx,
        `strategy ${strategy} compares the candidate with production, and "${name}" has no production version; ` +
          'deploy the first version with strategy direct',
      );
    }
    // Already promoted (a retried attempt after the trial, or a repeated run): nothing left to try.
    if (production.version === version) return { strategy, ...(await this.promote()) };
    const trial = await this.trial(strategy, production);
    return { strategy, ...(await this.promote(production)), [strategy]: trial };
  }

  /**
   * Points production at the version (compare-and-set on what it was), waits until serving follows, smoke-tests and
   * health-checks every instance. A failed check, a timeout or a cancellation puts the previous version back first.
   */
  private async promote(expected?: AliasState) {
    const { name, version } = this.input;
    const before = expected ?? (await this.registry.getAlias(name, PRODUCTION));
    const update = await this.registry.setAlias(name, PRODUCTION, version, {
      runId: this.runId,
      reason: this.input.reason ?? `deploy (${this.input.strategy})`,
      ...(before ? { ifMatch: before.etag } : { expectedVersion: null }),
    });
    // Not changed: either a retry of this run (report what it replaced) or production already was this version.
    const previous = update.changed
      ? (before?.version ?? null)
      : update.change.runId === this.runId
        ? update.change.from
        : version;
    const moved = previous !== version;
    try {
      this.ctx.heartbeat({ phase: 'promoted', version, previous });
      const waited = await this.waitFor({ production: version });
      const smoke = await this.check(waited, version, 'production');
      return { name, version, previous, instances: waited.map((r) => r.instanceId), smoke };
    } catch (err) {
      if (!(err instanceof CheckFailed)) {
        if (moved && this.ctx.signal.aborted) await this.restoreProduction(previous);
        throw err;
      }
      const back = moved
        ? await this.restoreProduction(previous)
        : `production was v${version} before this step and stays there`;
      throw failure(err.type, `${err.message}; ${back}`, err.details);
    }
  }

  /** Candidate + traffic split, soak, judgement. Ends the trial (traffic none) either way; throws when it failed. */
  private async trial(strategy: 'canary' | 'shadow', production: AliasState): Promise<TrialOutputs> {
    const { name, version } = this.input;
    const before = await this.registry.getAlias(name, CANDIDATE);
    await this.registry.setAlias(name, CANDIDATE, version, {
      runId: this.runId,
      reason: this.input.reason ?? `deploy (${strategy})`,
    });
    // What a failed trial puts back (an earlier step of the run may have set candidate to this very version).
    const candidatePrevious = before?.version ?? null;
    const share = strategy === 'canary' ? this.input.canary.share : 0;
    let outcome: TrialOutputs;
    try {
      await setTraffic(this.ctx, name, strategy, version, share);
      const waited = await this.waitFor({ production: production.version, candidate: { version, mode: strategy } });
      await this.check(waited, version, strategy);
      outcome = await this.soak(strategy, production.version);
    } catch (err) {
      if (err instanceof CheckFailed || this.ctx.signal.aborted) {
        const back = await this.endTrial(candidatePrevious, version);
        if (err instanceof CheckFailed) throw failure(err.type, `${err.message}; ${back}`, err.details);
      } else {
        // Anything else (the store or an instance unreachable) is retried, and a retry starts the trial again; if no
        // retry comes, no trial must stay on: take the candidate's traffic away now, as far as the store allows.
        await setTraffic(this.ctx, name, 'none', null, 0).catch(() => {});
      }
      throw err;
    }
    const failed = outcome.checks.filter((c) => !c.passed);
    const back = await this.endTrial(failed.length ? candidatePrevious : version, version);
    if (failed.length) {
      const type = strategy === 'canary' ? DeployErrorTypes.CanaryFailed : DeployErrorTypes.ShadowFailed;
      const first = failed[0];
      throw failure(
        type,
        `${strategy} of "${name}" v${version} failed on ${first.metric}: ${failed.map((c) => c.detail).join('; ')}; ` +
          `production stays v${production.version}; ${back}`,
        { ...outcome, failed: failed.map((c) => ({ metric: c.metric, value: c.value, bound: c.bound })) },
      );
    }
    return outcome;
  }

  /** Lets the trial take traffic for its soak time, then measures it. */
  private async soak(strategy: 'canary' | 'shadow', productionVersion: number): Promise<TrialOutputs> {
    const { name, version } = this.input;
    const soakMs = parseDuration(strategy === 'canary' ? this.input.canary.soak : this.input.shadow.soak);
    const from = Date.now();
    const start = await liveInstances(this.ctx.store);
    for (let left = soakMs; left > 0; left -= 1000) {
      this.ctx.heartbeat({ phase: 'soak', strategy, leftMs: left });
      await pause(Math.min(1000, left), this.ctx.signal);
    }
    const to = Date.now();
    // The counters of the soak's last seconds arrive with the next report, and the logs with the next flush.
    await pause(LOG_SETTLE_MS, this.ctx.signal);
    const end = await liveInstances(this.ctx.store);
    const candidate = statsDelta(start, end, name, version);
    const production = statsDelta(start, end, name, productionVersion);
    const { records } = await readLog(this.ctx.store, 'predictions', name, from, to + LOG_SETTLE_MS);
    if (strategy === 'shadow') {
      const judged = judgeShadow(records, version, productionVersion, candidate, production, this.input.shadow);
      return { soakMs, candidate, production, agreement: judged.agreement, checks: judged.checks };
    }
    const feedback = (await readLog(this.ctx.store, 'feedback', name, from, Date.now())).records;
    const card = (await this.registry.getVersion(name, version)).card;
    const classes = Array.isArray(card.classes) ? card.classes.map(String) : null;
    const quality = measureQuality({
      predictions: records,
      feedback,
      canaryVersion: version,
      productionVersion,
      task: taskOf(card, this.sample),
      positiveClass: classes?.[1] ?? '1',
      metric: this.input.canary.qualityMetric,
    });
    const checks = judgeCanary(candidate, production, quality, this.input.canary);
    return { soakMs, candidate, production, ...(quality && { quality }), checks };
  }

  /**
   * Traffic back to `none` and alias candidate from `current` back to `candidate` (null: removed); waits until no
   * instance serves a candidate any more.
   */
  private async endTrial(candidate: number | null, current: number): Promise<string> {
    const { name } = this.input;
    await setTraffic(this.ctx, name, 'none', null, 0);
    if (candidate !== current) {
      const opts = { runId: this.runId, reason: 'deploy: trial ended' };
      if (candidate === null) await this.registry.removeAlias(name, CANDIDATE, opts);
      else await this.registry.setAlias(name, CANDIDATE, candidate, opts);
    }
    const waited = await waitForServing(this.ctx, {
      name,
      want: { candidate: { version: null } },
      timeoutMs: this.waitMs,
      minInstances: 0,
    });
    return waited.ok ? 'traffic back to none' : `traffic set back to none, but ${waited.problem}`;
  }

  /** Puts production back on `previous` and waits for serving to follow; says how that went. */
  private async restoreProduction(previous: number | null): Promise<string> {
    const { name } = this.input;
    // Only if production is still ours: a deploy that moved it meanwhile is not undone.
    const opts = {
      runId: this.runId,
      reason: 'deploy: restore after a failed check',
      expectedVersion: this.input.version,
    };
    if (previous === null) await this.registry.removeAlias(name, PRODUCTION, opts);
    else await this.registry.setAlias(name, PRODUCTION, previous, opts);
    // Not abortable: a cancelled step still puts serving back before it stops.
    const waited = await waitForServing(this.ctx, {
      name,
      want: { production: previous },
      timeoutMs: this.waitMs,
      minInstances: 0,
    });
    const what = previous === null ? 'production alias removed' : `production restored to v${previous}`;
    return waited.ok
      ? `${what}, serving reports it on ${waited.reports.length} instance(s)`
      : `${what}, but ${waited.problem}`;
  }

  private async waitFor(want: Want): Promise<InstanceReport[]> {
    const waited = await waitForServing(this.ctx, {
      name: this.input.name,
      want,
      timeoutMs: this.waitMs,
      minInstances: this.input.minInstances,
      signal: this.ctx.signal,
    });
    if (!waited.ok) {
      throw new CheckFailed(
        DeployErrorTypes.DeployTimedOut,
        `"${this.input.name}" v${this.input.version}: ${waited.problem}`,
      );
    }
    return waited.reports;
  }

  /**
   * Smoke test and health gate on every instance, for `version` (addressed by version, so a candidate is checked
   * before it answers anyone): the version is ready, the smoke rows score as in evaluation, and the instance counts
   * no error for the version from before the check until its next report after it.
   */
  private async check(reports: InstanceReport[], version: number, role: string): Promise<DeployOutputs['smoke']> {
    const { name } = this.input;
    this.ctx.heartbeat({ phase: 'check', role, instances: reports.length });
    const results = await Promise.all(reports.map((r) => this.checkInstance(r, version)));
    const checkedAt = Date.now();
    const after = await freshReports(this.ctx, reports, checkedAt, this.waitMs);
    const key = statsKey(name, version);
    for (const r of reports) {
      const now = after.get(r.instanceId);
      if (!now) {
        throw new CheckFailed(
          DeployErrorTypes.DeployHealthFailed,
          `instance ${r.instanceId} (${r.url}) stopped reporting during the check of "${name}" v${version}`,
        );
      }
      const errors = (now.stats[key]?.errors ?? 0) - (now.startedAt === r.startedAt ? (r.stats[key]?.errors ?? 0) : 0);
      if (errors > 0) {
        throw new CheckFailed(
          DeployErrorTypes.DeployHealthFailed,
          `instance ${r.instanceId} (${r.url}) counted ${errors} error(s) for "${name}" v${version} during the check`,
        );
      }
    }
    const diffs = results.map((x) => x.maxAbsDiff).filter((x): x is number => x !== null);
    return { rows: this.sample?.rows.length ?? 0, maxAbsDiff: diffs.length ? Math.max(...diffs) : null };
  }

  private async checkInstance(report: InstanceReport, version: number): Promise<{ maxAbsDiff: number | null }> {
    const { name } = this.input;
    const where = `instance ${report.instanceId} (${report.url})`;
    const ready = await http(
      `${report.url.replace(/\/$/, '')}/v2/models/${encodeURIComponent(name)}/versions/${version}/ready`,
      this.ctx.signal,
    ).catch((err: Error) => ({ status: 0, body: err.message }));
    if (ready.status !== 200) {
      throw new CheckFailed(
        DeployErrorTypes.DeployHealthFailed,
        `${where}: "${name}" v${version} is not ready (${ready.status || 'no answer'}: ${snippet(ready.body)})`,
      );
    }
    // Without a sample, serving's own smoke test: one row of missing values must get a finite answer.
    const sample = this.sample;
    let answer: SmokeTestResult;
    try {
      answer = await smokeTest({
        url: report.url,
        model: name,
        version,
        inputs: sample ? smokeInputs(sample) : undefined,
        timeoutMs: HTTP_TIMEOUT_MS,
      });
    } catch (err) {
      if (!(err instanceof SmokeTestFailed)) throw err;
      throw new CheckFailed(DeployErrorTypes.DeploySmokeFailed, `${where}: smoke test failed: ${err.message}`);
    }
    if (!sample) return { maxAbsDiff: null };
    let served: number[][];
    try {
      served = scoresFromOutputs(answer.outputs, sample);
    } catch (err) {
      throw new CheckFailed(
        DeployErrorTypes.DeploySmokeFailed,
        `${where}: smoke answer of "${name}" v${version} is unreadable: ${(err as Error).message}`,
      );
    }
    const { maxAbsDiff, mismatch } = compareSmokeScores(sample, served, this.input.smokeTolerance);
    if (mismatch) {
      const what =
        sample.task === 'regression'
          ? 'value'
          : `probability of class ${sample.classes?.[mismatch.output] ?? mismatch.output}`;
      throw new CheckFailed(
        DeployErrorTypes.DeploySmokeFailed,
        `${where}: "${name}" v${version} scored smoke row ${mismatch.row} (holdout row) with ${what} ` +
          `${mismatch.served}, evaluation gave ${mismatch.expected} ` +
          `(|diff| ${Math.abs(mismatch.served - mismatch.expected)} > ${this.input.smokeTolerance})`,
        { instance: report.instanceId, row: mismatch.row, expected: mismatch.expected, served: mismatch.served },
      );
    }
    return { maxAbsDiff };
  }

  private async loadSample(): Promise<SmokeSample | null> {
    if (!this.input.smoke) return null;
    const bytes = await readVerified(this.ctx.store, this.input.smoke);
    const parsed = SmokeSampleSchema.safeParse(JSON.parse(bytes.toString('utf8')));
    if (!parsed.success) throw stepInputInvalid(this.ctx, `with.smoke: ${this.input.smoke.uri} is not a smoke sample`);
    return parsed.data;
  }
}

/** What the step waits for on every instance (a field left out is not looked at). */
interface Want {
  /** Alias production's version (null: none loaded). */
  production?: number | null;
  candidate?: { version: number | null; mode?: 'shadow' | 'canary' };
}

/**
 * Polls the live instances' reports until every one that serves the model reports `want` (and at least
 * `minInstances` do), heartbeating while it waits.
 *
 * @returns the reports, or a sentence naming every instance that did not get there and what it reports instead
 */
export async function waitForServing(
  ctx: Pick<StepContext, 'store' | 'heartbeat'>,
  opts: { name: string; want: Want; timeoutMs: number; minInstances: number; signal?: AbortSignal },
): Promise<{ ok: true; reports: InstanceReport[] } | { ok: false; problem: string }> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const reports = (await liveInstances(ctx.store)).filter((r) => servesModel(r, opts.name));
    const behind = reports.filter((r) => !reportsWanted(r, opts.name, opts.want));
    if (!behind.length && reports.length >= opts.minInstances) return { ok: true, reports };
    if (Date.now() >= deadline) {
      const wanted = describeWant(opts.want);
      const problem = behind.length
        ? `${behind.length} of ${reports.length} serving instance(s) did not switch to ${wanted} within ` +
          `${opts.timeoutMs / 1000}s: ${behind.map((r) => describeInstance(r, opts.name)).join('; ')}`
        : `${reports.length} live serving instance(s) report "${opts.name}" (need ${opts.minInstances}) after ` +
          `${opts.timeoutMs / 1000}s; is serving running against this bucket?`;
      return { ok: false, problem };
    }
    ctx.heartbeat({ phase: 'waiting', want: opts.want, instances: reports.length, behind: behind.length });
    await pause(POLL_MS, opts.signal);
  }
}

/**
 * Whether an instance takes part in serving `name`: it lists the model in its report. An instance started with
 * `models: [...]` lists its models from the start; one that discovers models lists a model from its first poll that
 * sees a production alias, so on a model's very first deploy such an instance may join only after the wait.
 */
function servesModel(report: InstanceReport, name: string): boolean {
  return Object.hasOwn(report.models, name);
}

function reportsWanted(report: InstanceReport, name: string, want: Want): boolean {
  const m = report.models[name];
  if (want.production !== undefined && (m?.production?.version ?? null) !== want.production) return false;
  if (want.candidate) {
    const c = m?.candidate ?? null;
    if ((c?.version ?? null) !== want.candidate.version) return false;
    if (c && want.candidate.mode && c.mode !== want.candidate.mode) return false;
  }
  return true;
}

function describeWant(want: Want): string {
  const parts: string[] = [];
  if (want.production !== undefined) parts.push(`production ${fmtVersion(want.production)}`);
  if (want.candidate) {
    parts.push(
      `candidate ${fmtVersion(want.candidate.version)}${want.candidate.mode ? ` (${want.candidate.mode})` : ''}`,
    );
  }
  return parts.join(' + ');
}

function describeInstance(report: InstanceReport, name: string): string {
  const m = report.models[name];
  const cand = m?.candidate ? `, candidate v${m.candidate.version} (${m.candidate.mode})` : '';
  const error = m?.lastLoadError ? `, last load error: ${snippet(m.lastLoadError)}` : '';
  return `${report.instanceId} (${report.url}) serves production ${fmtVersion(m?.production?.version ?? null)}${cand}${error}`;
}

/** Each instance's first report written after `after` (instances that stop reporting are left out). */
async function freshReports(
  ctx: Pick<StepContext, 'store' | 'heartbeat' | 'signal'>,
  instances: readonly InstanceReport[],
  after: number,
  timeoutMs: number,
): Promise<Map<string, InstanceReport>> {
  const deadline = Date.now() + timeoutMs;
  const fresh = new Map<string, InstanceReport>();
  while (fresh.size < instances.length && Date.now() < deadline) {
    for (const r of await liveInstances(ctx.store)) {
      if (Date.parse(r.updatedAt) > after && instances.some((i) => i.instanceId === r.instanceId)) {
        fresh.set(r.instanceId, r);
      }
    }
    if (fresh.size < instances.length) {
      ctx.heartbeat({ phase: 'health', reported: fresh.size, of: instances.length });
      await pause(POLL_MS, ctx.signal);
    }
  }
  return fresh;
}

/** The smoke rows as Open Inference Protocol v2 input tensors (one per model input, `[rows, 1]`). */
export function smokeInputs(sample: SmokeSample) {
  return sample.features.map((f) => ({
    name: f.name,
    datatype: f.kind === 'numeric' ? 'FP64' : 'BYTES',
    shape: [sample.rows.length, 1],
    data: sample.rows.map((r) => {
      const v = r.features[f.name] ?? null;
      // As table.ts makes categories of numbers: their decimal string.
      return f.kind === 'categorical' && typeof v === 'number' ? String(v) : v;
    }),
  }));
}

/** Per-row scores (class probabilities, or `[value]`) from an infer answer's outputs, in the sample's layout. */
export function scoresFromOutputs(outputs: readonly { name: string; data: unknown[] }[], sample: SmokeSample) {
  const wanted = sample.task === 'regression' ? 'variable' : 'probabilities';
  const tensor = outputs.find((o) => o.name === wanted);
  if (!tensor) throw new Error(`no output named "${wanted}" (got ${outputs.map((o) => o.name).join(', ')})`);
  const n = sample.rows.length;
  const width = sample.rows[0].expected.length;
  if (tensor.data.length !== n * width) {
    throw new Error(`output "${wanted}" has ${tensor.data.length} values, expected ${n} rows x ${width}`);
  }
  const data = tensor.data.map(Number);
  return Array.from({ length: n }, (_, i) => data.slice(i * width, (i + 1) * width));
}

/** Starts the model's monitor with `config`, or tells the running one about the new version (and the config). */
async function startMonitor(config: MonitorConfigInput, result: DeployOutputs, ctx: StepContext) {
  const workflowId = monitorWorkflowId(result.name);
  // The worker's own client (Temporal passes it to every activity): no second connection, no credentials here.
  await Context.current().client.workflow.signalWithStart(MONITOR_WORKFLOW_TYPE, {
    workflowId,
    taskQueue: config.queues?.workflows ?? queues.workflows,
    args: [config],
    signal: deployedSignal,
    signalArgs: [{ version: result.version, previousVersion: result.previous, runId: ctx.task.runId, config }],
  });
  return { workflowId };
}

async function setTraffic(
  ctx: StepContext,
  model: string,
  mode: TrafficConfig['mode'],
  candidateVersion: number | null,
  canaryShare: number,
): Promise<void> {
  await writeTraffic(ctx.store, { model, mode, candidateVersion, canaryShare, runId: ctx.task.runId });
}

async function http(url: string, signal: AbortSignal): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(HTTP_TIMEOUT_MS)]) });
  return { status: res.status, body: await res.text() };
}

/** Waits `ms`; rejects with the signal's reason when it aborts first. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function taskOf(
  card: Record<string, unknown>,
  sample: SmokeSample | null | undefined,
): 'binary' | 'multiclass' | 'regression' {
  if (sample) return sample.task;
  const classes = Array.isArray(card.classes) ? card.classes.length : 0;
  return classes === 0 ? 'regression' : classes === 2 ? 'binary' : 'multiclass';
}

const fmtVersion = (v: number | null): string => (v === null ? 'none' : `v${v}`);
const snippet = (text: string): string => (text.length > 300 ? `${text.slice(0, 300)}...` : text);

function failure(type: DeployErrorType, message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, details: details ? [details] : undefined });
}
