/**
 * What the control plane (the `deploy` step, the monitor) and the serving instances (`mlpipe serve`) tell each other,
 * through the object store only, so any number of serving processes on any machines take part:
 *
 * - `serving/traffic/<model>.json` ({@link TrafficConfig}): how a model's traffic is split between the version at
 *   alias `production` and the one at alias `candidate` (none, shadow, canary share). Written by `deploy`.
 * - `serving/instances/<instanceId>.json` ({@link InstanceReport}): each serving process rewrites its own every few
 *   seconds: which versions it has loaded, per-version request counters. `deploy` waits until every live instance
 *   reports the version it promoted, and compares canary against production from these counters.
 *
 * Which version is production stays in the registry (aliases, with their history); this module adds only the
 * traffic split and the instances' reports.
 */
import { z } from 'zod';
import type { ArtifactStore } from './artifact-store';

export const TRAFFIC_PREFIX = 'serving/traffic/';
export const INSTANCE_PREFIX = 'serving/instances/';

/** An instance is live when its report is younger than this (reports are rewritten every 2 s by default). */
export const INSTANCE_STALE_MS = 15_000;

export const TrafficConfigSchema = z.object({
  model: z.string(),
  /**
   * `none`: production only. `shadow`: the candidate also scores every request; its answer is logged, never
   * returned. `canary`: `canaryShare` of the requests get the candidate's answer.
   */
  mode: z.enum(['none', 'shadow', 'canary']),
  /** The candidate version (must match alias `candidate`; serving loads this exact version). */
  candidateVersion: z.number().int().positive().nullable(),
  /** Share of requests routed to the candidate in `canary` mode, 0..1. */
  canaryShare: z.number().min(0).max(1).default(0),
  updatedAt: z.string(),
  /** The workflow run that wrote it, for the audit trail. */
  runId: z.string().optional(),
});
export type TrafficConfig = z.infer<typeof TrafficConfigSchema>;

/** Cumulative counters of one (model, version, role) on one instance since it started. */
export const VersionStatsSchema = z.object({
  requests: z.number().int().nonnegative(),
  /** Requests answered 5xx, or that failed inside the model. (4xx are the caller's errors, not counted.) */
  errors: z.number().int().nonnegative(),
  /** Sum of request latencies in ms (latency mean = latencySumMs / requests). */
  latencySumMs: z.number().nonnegative(),
  /** Requests slower than 50 ms. */
  slowRequests: z.number().int().nonnegative().default(0),
});
export type VersionStats = z.infer<typeof VersionStatsSchema>;

export const LoadedModelSchema = z.object({
  version: z.number().int().positive(),
  sha256: z.string(),
  loadedAt: z.string(),
});

export const InstanceReportSchema = z.object({
  instanceId: z.string(),
  /** Base URL at which the control plane reaches this instance, e.g. http://127.0.0.1:8080. */
  url: z.string(),
  startedAt: z.string(),
  updatedAt: z.string(),
  /** Set by the last report of an instance that shut down cleanly: it is no longer live. */
  stoppedAt: z.string().optional(),
  models: z.record(
    z.string(),
    z.object({
      production: LoadedModelSchema.nullable(),
      candidate: LoadedModelSchema.extend({ mode: z.enum(['shadow', 'canary']), share: z.number() }).nullable(),
      /** The last load that failed (the previous version keeps serving), if any. */
      lastLoadError: z.string().nullable().default(null),
    }),
  ),
  /** Keyed `<model>@<version>`. */
  stats: z.record(z.string(), VersionStatsSchema),
});
export type InstanceReport = z.infer<typeof InstanceReportSchema>;

export const trafficKey = (model: string): string => `${TRAFFIC_PREFIX}${model}.json`;
export const instanceKey = (instanceId: string): string => `${INSTANCE_PREFIX}${instanceId}.json`;
export const statsKey = (model: string, version: number): string => `${model}@${version}`;

/** The traffic split of a model; `none` (production only) when never written. */
export async function readTraffic(store: ArtifactStore, model: string): Promise<TrafficConfig> {
  const bytes = await store.tryGet(trafficKey(model));
  if (!bytes)
    return { model, mode: 'none', candidateVersion: null, canaryShare: 0, updatedAt: new Date(0).toISOString() };
  return TrafficConfigSchema.parse(JSON.parse(bytes.toString('utf8')));
}

export async function writeTraffic(
  store: ArtifactStore,
  config: Omit<TrafficConfig, 'updatedAt'>,
): Promise<TrafficConfig> {
  const full = TrafficConfigSchema.parse({ ...config, updatedAt: new Date().toISOString() });
  await store.put(trafficKey(config.model), JSON.stringify(full, null, 2), { contentType: 'application/json' });
  return full;
}

export async function writeInstanceReport(store: ArtifactStore, report: InstanceReport): Promise<void> {
  await store.put(instanceKey(report.instanceId), JSON.stringify(report), { contentType: 'application/json' });
}

/**
 * Reports of the instances alive now (report younger than {@link INSTANCE_STALE_MS}, not stopped); unreadable
 * reports are skipped.
 */
export async function liveInstances(store: ArtifactStore, now = Date.now()): Promise<InstanceReport[]> {
  const keys = await store.list(INSTANCE_PREFIX);
  const reports = await Promise.all(
    keys.map(async (key) => {
      const bytes = await store.tryGet(key);
      if (!bytes) return undefined;
      try {
        const parsed = InstanceReportSchema.safeParse(JSON.parse(bytes.toString('utf8')));
        return parsed.success ? parsed.data : undefined;
      } catch {
        return undefined; // a torn or foreign object: not a live instance
      }
    }),
  );
  return reports.filter(
    (r): r is InstanceReport => !!r && !r.stoppedAt && now - Date.parse(r.updatedAt) < INSTANCE_STALE_MS,
  );
}
