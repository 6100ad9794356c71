/**
 * The models a serving process holds in memory: for each model, the version at alias `production` and, while a
 * traffic split is on, the candidate; one onnxruntime session per loaded version. {@link ModelHost.poll} follows
 * the registry aliases and the traffic config; a new version is loaded completely (bytes verified, session created,
 * one warm-up run) before the reference is switched, and the old session is released only once its in-flight
 * requests are done. A load that fails is refused: the previous version keeps serving and the load is retried with
 * backoff.
 */
import * as ort from 'onnxruntime-node';
import { CLASSES_METADATA_KEY, MODEL_CARD_METADATA_KEY, readOnnxMetadata } from '../ml/onnx-builder';
import { OUTPUT_LABEL, OUTPUT_PROBABILITIES, OUTPUT_VARIABLE } from '../ml/onnx-export';
import type { ArtifactStore } from '../storage/artifact-store';
import { StoreUnavailable } from '../storage/artifact-store';
import type { ModelRegistry } from '../storage/registry';
import {
  readTraffic,
  statsKey,
  type InstanceReport,
  type TrafficConfig,
  type VersionStats,
} from '../storage/serving-state';
import { planFeatures, type FeaturePlan, type FeatureRows, type ModelInput } from './validation';

/** What the serving process logs through; `console`-like, one structured line per call. */
export interface ServingLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export type ModelTask = 'binary' | 'multiclass' | 'regression';

/** Scores of a batch, straight from the graph outputs. */
export type Scores =
  | { kind: 'classification'; numClasses: number; labels: BigInt64Array; probabilities: Float32Array }
  | { kind: 'regression'; values: Float32Array };

/** Requests slower than this count as slow in {@link VersionStats.slowRequests}. */
export const SLOW_REQUEST_MS = 50;

/** Most rows scored in one `session.run` when requests are batched together. */
const MAX_BATCH_ROWS = 4096;

interface Pending {
  rows: FeatureRows;
  resolve: (scores: Scores) => void;
  reject: (err: Error) => void;
}

/**
 * One version of one model in memory: its onnxruntime session, its input plan and its counters.
 *
 * Requests that arrive together are scored together: onnxruntime-node runs a session on the main thread and a call
 * costs far more than a row (for the flights GBDT ~0.1-0.2 ms per call, ~0.01 ms per row), so every request that
 * calls {@link run} before the next event-loop turn joins one `session.run` (dynamic batching, as Triton does). A
 * lone request pays nothing for it: onnxruntime-node defers each run to the next turn anyway.
 */
export class LoadedVersion {
  private inflight = 0;
  private retired = false;
  private released: Promise<void> | undefined;
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(
    readonly model: string,
    readonly version: number,
    readonly sha256: string,
    readonly loadedAt: string,
    private readonly session: ort.InferenceSession,
    readonly plan: FeaturePlan,
    readonly task: ModelTask,
    /** Class names by class index (the card's `classes`), or null. */
    readonly classes: readonly string[] | null,
    readonly numClasses: number,
    /** Cumulative counters of this version on this instance (shared with the instance report). */
    readonly stats: VersionStats,
  ) {}

  /**
   * Scores rows. The session is held until the call settles: a swap that retires this version meanwhile releases it
   * only afterwards.
   */
  run(rows: FeatureRows): Promise<Scores> {
    this.inflight++;
    return new Promise<Scores>((resolve, reject) => {
      this.queue.push({ rows, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.drain());
      }
    }).finally(() => {
      if (--this.inflight === 0 && this.retired) void this.release();
    });
  }

  /** Scores everything queued, in batches of at most {@link MAX_BATCH_ROWS} rows. */
  private async drain(): Promise<void> {
    this.scheduled = false;
    const queued = this.queue;
    this.queue = [];
    for (let start = 0; start < queued.length;) {
      let end = start + 1;
      let n = queued[start].rows.n;
      while (end < queued.length && n + queued[end].rows.n <= MAX_BATCH_ROWS) n += queued[end++].rows.n;
      const batch = queued.slice(start, end);
      start = end;
      try {
        const scores = await this.score(
          batch.length === 1 ? batch[0].rows : concatRows(batch, n, this.plan.inputs.length),
        );
        let offset = 0;
        for (const p of batch) {
          p.resolve(sliceScores(scores, offset, p.rows.n));
          offset += p.rows.n;
        }
      } catch (err) {
        // One request must not fail the others of its batch: score them one by one.
        if (batch.length === 1) batch[0].reject(err as Error);
        else for (const p of batch) this.score(p.rows).then(p.resolve, p.reject);
      }
    }
  }

  private async score(rows: FeatureRows): Promise<Scores> {
    const feeds: Record<string, ort.Tensor> = {};
    const { inputs } = this.plan;
    for (let i = 0; i < inputs.length; i++) {
      const column = rows.columns[i];
      feeds[inputs[i].name] =
        column instanceof Float32Array
          ? new ort.Tensor('float32', column, [rows.n, 1])
          : new ort.Tensor('string', column, [rows.n, 1]);
    }
    const out = await this.session.run(feeds);
    if (this.task === 'regression') return { kind: 'regression', values: out[OUTPUT_VARIABLE].data as Float32Array };
    return {
      kind: 'classification',
      numClasses: this.numClasses,
      labels: out[OUTPUT_LABEL].data as BigInt64Array,
      probabilities: out[OUTPUT_PROBABILITIES].data as Float32Array,
    };
  }

  /** Stops taking part in new requests; the session is freed once the requests using it are done. */
  retire(): Promise<void> {
    this.retired = true;
    return this.inflight === 0 ? this.release() : Promise.resolve();
  }

  private release(): Promise<void> {
    this.released ??= this.session.release().catch(() => undefined);
    return this.released;
  }
}

/** The rows of several requests as one batch, columns concatenated in order. */
function concatRows(batch: readonly Pending[], n: number, width: number): FeatureRows {
  const columns: (Float32Array | string[])[] = [];
  for (let i = 0; i < width; i++) {
    if (batch[0].rows.columns[i] instanceof Float32Array) {
      const out = new Float32Array(n);
      let at = 0;
      for (const p of batch) {
        out.set(p.rows.columns[i] as Float32Array, at);
        at += p.rows.n;
      }
      columns.push(out);
    } else {
      const out: string[] = [];
      for (const p of batch) for (const s of p.rows.columns[i] as string[]) out.push(s);
      columns.push(out);
    }
  }
  return { n, columns };
}

/** Rows [offset, offset + n) of a batch's scores (views, no copy). */
function sliceScores(scores: Scores, offset: number, n: number): Scores {
  if (scores.kind === 'regression') return { kind: 'regression', values: scores.values.subarray(offset, offset + n) };
  const C = scores.numClasses;
  return {
    kind: 'classification',
    numClasses: C,
    labels: scores.labels.subarray(offset, offset + n),
    probabilities: scores.probabilities.subarray(offset * C, (offset + n) * C),
  };
}

/** One served model: what answers its requests now. */
export interface ServedModel {
  readonly name: string;
  production: LoadedVersion | null;
  candidate: LoadedVersion | null;
  traffic: TrafficConfig;
  lastLoadError: string | null;
}

export interface ModelHostOptions {
  store: ArtifactStore;
  registry: ModelRegistry;
  /** Serve only these models; by default every model with a `production` alias, rediscovered each poll. */
  models?: readonly string[];
  logger: ServingLogger;
  /** onnxruntime threads per session. @default 1 (best single-row latency) */
  intraOpNumThreads?: number;
  /** First retry delay after a failed load; doubles per failure up to {@link maxRetryMs}. @default 1000 */
  retryMs?: number;
  /** @default 60000 */
  maxRetryMs?: number;
  /** Told when a load fails (metrics). */
  onLoadFailure?: (model: string, version: number, err: Error) => void;
}

/** Loads, swaps and retires model versions by following the registry and the traffic config. */
export class ModelHost {
  /** Served models by name. */
  readonly models = new Map<string, ServedModel>();
  /** Cumulative counters by `<model>@<version>`, kept after a version is unloaded. */
  readonly stats = new Map<string, VersionStats>();
  /** A poll round has completed at least once. */
  polledOnce = false;
  private readonly failures = new Map<string, { attempts: number; nextAt: number; message: string }>();
  private storeDown = false;
  private polling: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly opts: ModelHostOptions) {
    for (const name of opts.models ?? []) this.models.set(name, emptyModel(name));
  }

  /** Every served model has its production version loaded (and at least one poll has run). */
  get ready(): boolean {
    if (!this.polledOnce) return false;
    for (const m of this.models.values()) if (!m.production) return false;
    return true;
  }

  /** One round: find the models, their production and candidate versions, load and swap. Rounds never overlap. */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    let targets: Map<string, number | null>;
    try {
      targets = await this.productionVersions();
    } catch (err) {
      this.storeProblem(err as Error);
      return;
    }
    for (const [name, production] of targets) {
      if (this.closed) return;
      let traffic: TrafficConfig;
      try {
        traffic = await readTraffic(this.opts.store, name);
      } catch (err) {
        this.storeProblem(err as Error);
        return;
      }
      const model = this.models.get(name) ?? emptyModel(name);
      this.models.set(name, model);
      await this.reconcile(model, production, traffic);
    }
    // Discovered models whose production alias went away are no longer served.
    if (!this.opts.models) {
      for (const [name, model] of this.models) {
        if (targets.has(name)) continue;
        this.models.delete(name);
        this.opts.logger.info('model no longer has a production alias: unloaded', { model: name });
        void model.production?.retire();
        void model.candidate?.retire();
      }
    }
    if (this.storeDown) this.opts.logger.info('object store reachable again');
    this.storeDown = false;
    this.polledOnce = true;
  }

  private async productionVersions(): Promise<Map<string, number | null>> {
    const { registry } = this.opts;
    if (this.opts.models) {
      const entries = await Promise.all(
        this.opts.models.map(
          async (name) => [name, (await registry.getAlias(name, 'production'))?.version ?? null] as const,
        ),
      );
      return new Map(entries);
    }
    const summaries = await registry.listModels();
    return new Map(summaries.filter((s) => s.aliases.production).map((s) => [s.name, s.aliases.production]));
  }

  private async reconcile(model: ServedModel, production: number | null, traffic: TrafficConfig): Promise<void> {
    model.traffic = traffic;
    const loaded = (v: number) =>
      model.production?.version === v ? model.production : model.candidate?.version === v ? model.candidate : null;
    const wantCandidate =
      traffic.mode !== 'none' && traffic.candidateVersion !== null ? traffic.candidateVersion : null;

    const previous = [model.production, model.candidate];
    let nextProduction = model.production;
    if (production !== null && production !== model.production?.version) {
      nextProduction = loaded(production) ?? (await this.tryLoad(model, production)) ?? model.production;
    } else if (production === null) {
      nextProduction = null;
    }
    let nextCandidate: LoadedVersion | null = null;
    if (wantCandidate !== null) {
      nextCandidate =
        nextProduction?.version === wantCandidate
          ? nextProduction
          : (loaded(wantCandidate) ?? (await this.tryLoad(model, wantCandidate)));
    }
    if (nextProduction !== model.production) {
      this.opts.logger.info('production version switched', {
        model: model.name,
        from: model.production?.version ?? null,
        to: nextProduction?.version ?? null,
      });
    }
    model.production = nextProduction;
    model.candidate = nextCandidate;
    if (nextProduction && nextProduction.version === production && (wantCandidate === null || nextCandidate)) {
      model.lastLoadError = null;
    }
    for (const old of previous) if (old && old !== nextProduction && old !== nextCandidate) void old.retire();
  }

  /** Loads a version unless its last failure is too recent; a failure is recorded and logged, never thrown. */
  private async tryLoad(model: ServedModel, version: number): Promise<LoadedVersion | null> {
    const key = statsKey(model.name, version);
    const failure = this.failures.get(key);
    if (failure && Date.now() < failure.nextAt) return null;
    try {
      const lv = await this.load(model.name, version);
      this.failures.delete(key);
      this.opts.logger.info('model version loaded', { model: model.name, version, sha256: lv.sha256 });
      return lv;
    } catch (err) {
      if (err instanceof StoreUnavailable) {
        this.storeProblem(err);
        return null;
      }
      const attempts = (failure?.attempts ?? 0) + 1;
      const delay = Math.min(this.opts.maxRetryMs ?? 60_000, (this.opts.retryMs ?? 1000) * 2 ** (attempts - 1));
      const message = `v${version}: ${(err as Error).message}`;
      this.failures.set(key, { attempts, nextAt: Date.now() + delay, message });
      model.lastLoadError = message;
      this.opts.onLoadFailure?.(model.name, version, err as Error);
      this.opts.logger.error('model version refused: keeping the loaded version', {
        model: model.name,
        version,
        serving: model.production?.version ?? null,
        error: (err as Error).message,
        retryInMs: delay,
      });
      return null;
    }
  }

  /** Verified bytes → session → plan → one warm-up run. */
  private async load(name: string, version: number): Promise<LoadedVersion> {
    const { registry } = this.opts;
    const record = await registry.getVersion(name, version);
    const bytes = await registry.loadModelBytes(name, version); // refuses bytes that do not match the sha256
    const metadata = readOnnxMetadata(bytes);
    const card = parseObject(metadata[MODEL_CARD_METADATA_KEY]) ?? record.card;
    const session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: this.opts.intraOpNumThreads ?? 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    try {
      const inputs: ModelInput[] = session.inputMetadata.map((input) => {
        const type = input.isTensor ? input.type : 'non-tensor';
        if (type === 'float32') return { name: input.name, kind: 'numeric' };
        if (type === 'string') return { name: input.name, kind: 'categorical' };
        throw new Error(`input "${input.name}" is ${type}: mlpipe models take float32 or string inputs`);
      });
      const derive = card.derive;
      const plan = planFeatures(inputs, isStringRecord(derive) ? derive : {});
      const outputs = new Set(session.outputNames);
      const classesJson = metadata[CLASSES_METADATA_KEY];
      const classes = Array.isArray(card.classes)
        ? card.classes.map(String)
        : classesJson
          ? (JSON.parse(classesJson) as unknown[]).map(String)
          : null;
      let task: ModelTask;
      let numClasses = 0;
      if (outputs.has(OUTPUT_VARIABLE)) task = 'regression';
      else if (outputs.has(OUTPUT_LABEL) && outputs.has(OUTPUT_PROBABILITIES)) {
        const meta = session.outputMetadata.find((o) => o.name === OUTPUT_PROBABILITIES);
        const width = meta?.isTensor ? meta.shape[1] : undefined;
        numClasses = typeof width === 'number' ? width : (classes?.length ?? 0);
        if (numClasses < 2) throw new Error('cannot tell the number of classes: no fixed output width, no classes');
        task = numClasses === 2 ? 'binary' : 'multiclass';
      } else {
        throw new Error(`outputs are ${[...outputs].join(', ')}: expected label + probabilities, or variable`);
      }
      const key = statsKey(name, version);
      const stats = this.stats.get(key) ?? { requests: 0, errors: 0, latencySumMs: 0, slowRequests: 0 };
      this.stats.set(key, stats);
      const lv = new LoadedVersion(
        name,
        version,
        record.onnx.sha256,
        new Date().toISOString(),
        session,
        plan,
        task,
        task === 'regression' ? null : classes,
        numClasses,
        stats,
      );
      // A warm-up run with every value missing: the first request must not pay for lazy initialisation.
      await lv.run({
        n: 1,
        columns: inputs.map((i) => (i.kind === 'numeric' ? new Float32Array([NaN]) : [''])),
      });
      return lv;
    } catch (err) {
      await session.release().catch(() => undefined);
      throw err;
    }
  }

  private storeProblem(err: Error): void {
    if (!(err instanceof StoreUnavailable) && !/ECONNREFUSED|ECONNRESET|ETIMEDOUT|socket hang up/.test(err.message)) {
      this.opts.logger.warn('poll failed: serving what is loaded', { error: err.message });
      return;
    }
    if (!this.storeDown) {
      this.opts.logger.warn('object store unreachable: serving what is loaded, retrying', { error: err.message });
    }
    this.storeDown = true;
  }

  /** The `models` part of the instance report. */
  reportModels(): InstanceReport['models'] {
    const out: InstanceReport['models'] = {};
    for (const m of this.models.values()) {
      const mode = m.traffic.mode;
      out[m.name] = {
        production: m.production && {
          version: m.production.version,
          sha256: m.production.sha256,
          loadedAt: m.production.loadedAt,
        },
        candidate:
          m.candidate && mode !== 'none'
            ? {
                version: m.candidate.version,
                sha256: m.candidate.sha256,
                loadedAt: m.candidate.loadedAt,
                mode,
                share: mode === 'canary' ? m.traffic.canaryShare : 0,
              }
            : null,
        lastLoadError: m.lastLoadError,
      };
    }
    return out;
  }

  /** Stops polling and releases every session once its requests are done. */
  async close(): Promise<void> {
    this.closed = true;
    await this.polling;
    const all = new Set<LoadedVersion>();
    for (const m of this.models.values()) {
      if (m.production) all.add(m.production);
      if (m.candidate) all.add(m.candidate);
    }
    await Promise.all([...all].map((lv) => lv.retire()));
  }
}

const emptyModel = (name: string): ServedModel => ({
  name,
  production: null,
  candidate: null,
  traffic: { model: name, mode: 'none', candidateVersion: null, canaryShare: 0, updatedAt: new Date(0).toISOString() },
  lastLoadError: null,
});

function parseObject(json: string | undefined): Record<string, unknown> | undefined {
  if (json === undefined) return undefined;
  try {
    const v = JSON.parse(json) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const isStringRecord = (v: unknown): v is Record<string, string> =>
  !!v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
