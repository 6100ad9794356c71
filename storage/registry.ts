import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type * as Minio from 'minio';
import { z } from 'zod';
import { StoreUnavailable, type ArtifactStore } from './artifact-store';
import { parseS3Uri } from './datasets';

/*
 * Layout under the bucket, one folder per model (every object JSON, written with S3 conditional requests):
 *
 *   models/<name>/versions/<n>.json       a version: ONNX uri + sha256, card, lineage. Created once (If-None-Match: *).
 *   models/<name>/steps/<hash>.json       which version a (runId, stepId) registration claims: makes retries idempotent.
 *   models/<name>/aliases/<alias>.json    the alias's last change; moved only with If-Match on its ETag.
 *   models/<name>/history/<at>-<alias>-<id>.json   one object per alias change, never rewritten.
 */

/** Error names of the registry: the `type` an activity gives its `ApplicationFailure`. */
export const RegistryErrorTypes = {
  /** No such model, version or ONNX file: register it first or fix the name. */
  ModelNotFound: 'ModelNotFound',
  /** Someone else moved the alias first: re-read it and decide again. */
  AliasConflict: 'AliasConflict',
  /** The ONNX bytes do not hash to the registered sha256: refuse to serve them; re-train or re-register. */
  ModelIntegrityError: 'ModelIntegrityError',
  /** The same run and step registered a different model before: a step must register one model. */
  VersionConflict: 'VersionConflict',
  /** A name, alias or version that the registry cannot store: fix the argument. */
  RegistryInputInvalid: 'RegistryInputInvalid',
} as const;

/** No such model, version, alias target or ONNX file. */
export class ModelNotFound extends Error {
  override readonly name = RegistryErrorTypes.ModelNotFound;
}

/** A conditional alias write lost: the alias is not what the caller expected (or changed during the write). */
export class AliasConflict extends Error {
  override readonly name = RegistryErrorTypes.AliasConflict;
  constructor(
    readonly model: string,
    readonly alias: string,
    /** What the caller expected the alias to point at (`null`: not set). */
    readonly expected: number | null | undefined,
    /** What it points at now (`null`: not set). */
    readonly found: number | null,
    detail: string,
  ) {
    super(
      `alias "${alias}" of model "${model}" ${detail}: expected ${fmt(expected)}, found ${fmt(found)}; ` +
        're-read the alias and decide again',
    );
  }
}

/** The bytes behind a version do not hash to its registered sha256. */
export class ModelIntegrityError extends Error {
  override readonly name = RegistryErrorTypes.ModelIntegrityError;
  constructor(
    readonly model: string,
    readonly version: number | undefined,
    readonly uri: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `model "${model}"${version ? ` v${version}` : ''}: ${uri} has sha256 ${actual}, ` +
        `registered ${expected}; refusing to use it`,
    );
  }
}

/** A (runId, stepId) that already registered a version tried to register a different ONNX file. */
export class VersionConflict extends Error {
  override readonly name = RegistryErrorTypes.VersionConflict;
}

/** A name, alias or version the registry refuses before touching storage. */
export class RegistryInputInvalid extends Error {
  override readonly name = RegistryErrorTypes.RegistryInputInvalid;
}

const fmt = (v: number | null | undefined) => (v === undefined ? 'anything' : v === null ? 'not set' : `v${v}`);

/** Model names: what an S3 key segment and a URL path segment both carry safely. */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Alias names, as in MLflow: `production`, `candidate`, `shadow-eu`, ... */
export const ALIAS_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;

const Sha256 = z.string().regex(/^[a-f0-9]{64}$/, 'expected a lowercase hex sha256');
const Version = z.number().int().positive();

export const OnnxRefSchema = z.object({ uri: z.string().min(1), sha256: Sha256, size: z.number().int().optional() });
export type OnnxRef = z.infer<typeof OnnxRefSchema>;

export const RegisterVersionInputSchema = z.object({
  name: z.string().regex(MODEL_NAME_PATTERN, 'expected a model name: letters, digits, . _ - (at most 128)'),
  /** Workflow id of the run that registers; with `stepId` it makes registration idempotent. */
  runId: z.string().min(1),
  stepId: z.string().min(1),
  onnx: OnnxRefSchema,
  /** The model card (features, metrics, lineage); any JSON object. */
  card: z.custom<object>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'expected a JSON object'),
});
export type RegisterVersionInput = z.infer<typeof RegisterVersionInputSchema>;

export const ModelVersionSchema = z.object({
  name: z.string(),
  version: Version,
  runId: z.string(),
  stepId: z.string(),
  onnx: OnnxRefSchema,
  card: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
});
export type ModelVersion = z.infer<typeof ModelVersionSchema>;

/** One move of an alias. The alias object holds its latest change; the history holds every change. */
export const AliasChangeSchema = z.object({
  alias: z.string(),
  /** Version before the change (`null`: the alias was not set). */
  from: Version.nullable(),
  /** Version after the change (`null`: the alias was removed). */
  to: Version.nullable(),
  /** ISO time; strictly increasing per alias. */
  at: z.string(),
  /** 1, 2, 3... per alias. */
  seq: z.number().int().positive(),
  changeId: z.string(),
  runId: z.string().optional(),
  reason: z.string().optional(),
  by: z.string().optional(),
});
export type AliasChange = z.infer<typeof AliasChangeSchema>;

const StepClaimSchema = z.object({ runId: z.string(), stepId: z.string(), version: Version });
type StepClaim = z.infer<typeof StepClaimSchema>;

/** Where an alias points now, with the ETag to pass as `ifMatch` for a compare-and-set move. */
export type AliasState = AliasChange & { version: number; etag: string };

/** Result of {@link ModelRegistry.setAlias} / {@link ModelRegistry.removeAlias}. */
export interface AliasUpdate {
  change: AliasChange;
  etag: string;
  /** `false`: the alias already pointed there (a retried step, a repeated command); nothing was written. */
  changed: boolean;
}

export interface SetAliasOptions {
  /** Run that moves the alias; a retry of the same run finds its own change and succeeds without a second one. */
  runId?: string;
  reason?: string;
  /** Who moved it (a user, a service). */
  by?: string;
  /** Move only if the alias points at this version now (`null`: only if it is not set). */
  expectedVersion?: number | null;
  /** Move only if the alias object still has this ETag (from {@link ModelRegistry.getAlias}). */
  ifMatch?: string;
}

/** One model in {@link ModelRegistry.listModels}. */
export interface ModelSummary {
  name: string;
  versions: number;
  latest: number;
  aliases: Record<string, number>;
}

export interface ModelRegistryOptions {
  client: Minio.Client;
  bucket: string;
  /** Reads ONNX files whose URI is not `s3://` (a `file://` store). */
  store?: ArtifactStore;
  /** Named in errors, never the credentials. @default 'the S3 endpoint' */
  endpoint?: string;
  /** @default () => new Date() */
  clock?: () => Date;
}

/**
 * Builds a model registry on an S3 bucket (MinIO, AWS S3).
 *
 * @example
 * const registry = createModelRegistry({ client: createS3Client(s3), bucket: 'mlpipe' });
 * const { version } = await registry.registerVersion({ name: 'flights', runId, stepId: 'register', onnx, card });
 * await registry.setAlias('flights', 'production', version, { runId, reason: 'auc 0.74 > 0.72' });
 */
export const createModelRegistry = (opts: ModelRegistryOptions): ModelRegistry => new ModelRegistry(opts);

/**
 * Versions, aliases and alias history of models, with MLflow's vocabulary. Every write is an S3 conditional request,
 * so concurrent registrations get distinct version numbers and concurrent promotions cannot both win.
 */
export class ModelRegistry {
  private readonly objects: JsonObjects;
  private readonly clock: () => Date;

  constructor(private readonly opts: ModelRegistryOptions) {
    this.objects = new JsonObjects(opts.client, opts.bucket, opts.endpoint ?? 'the S3 endpoint');
    this.clock = opts.clock ?? (() => new Date());
  }

  /**
   * Registers an ONNX file as the next version (1, 2, 3...) of a model. Registering again for the same
   * (runId, stepId) returns the version that registration got, so a retried activity yields one version.
   *
   * @throws ModelNotFound when the ONNX file is not in the bucket
   * @throws ModelIntegrityError when the file's recorded sha256 differs from `onnx.sha256`
   * @throws VersionConflict when this run and step registered a different ONNX file before
   */
  async registerVersion(input: RegisterVersionInput): Promise<{ version: number; created: boolean }> {
    const parsed = RegisterVersionInputSchema.safeParse(input);
    if (!parsed.success) throw new RegistryInputInvalid(`registerVersion: ${z.prettifyError(parsed.error)}`);
    const { name, runId, stepId, onnx } = parsed.data;
    await this.checkOnnx(name, onnx);
    const claimKey = this.key(name, `steps/${stepHash(runId, stepId)}.json`);
    const record = (version: number): ModelVersion => ({
      name,
      version,
      runId,
      stepId,
      onnx,
      card: parsed.data.card as Record<string, unknown>,
      createdAt: this.clock().toISOString(),
    });

    // The claim names the number this registration is trying; it moves forward (If-Match) each time another
    // registration took that number. A crash anywhere leaves a claim that the retry resumes from.
    let claim = await this.objects.get(claimKey, StepClaimSchema);
    if (!claim) {
      const first: StepClaim = { runId, stepId, version: (await this.latestVersion(name)) + 1 };
      const put = await this.objects.put(claimKey, first, { ifNoneMatch: true });
      claim = put ? { value: first, etag: put } : await this.objects.get(claimKey, StepClaimSchema);
      if (!claim) throw new Error(`registry: claim ${this.objects.uri(claimKey)} vanished`);
    }
    for (let attempt = 0; attempt < 1000; attempt++) {
      const n = claim.value.version;
      const versionKey = this.key(name, `versions/${n}.json`);
      const taken = await this.objects.get(versionKey, ModelVersionSchema);
      if (!taken) {
        if (await this.objects.put(versionKey, record(n), { ifNoneMatch: true })) return { version: n, created: true };
        continue; // someone wrote v<n> between our read and write: look at who
      }
      if (taken.value.runId === runId && taken.value.stepId === stepId) {
        if (taken.value.onnx.sha256 !== onnx.sha256) {
          throw new VersionConflict(
            `model "${name}": run ${runId} step ${stepId} registered v${n} with sha256 ${taken.value.onnx.sha256}; ` +
              `this call brings ${onnx.sha256} (${onnx.uri}). A step registers one model: start a new run`,
          );
        }
        return { version: n, created: false };
      }
      const next: StepClaim = { runId, stepId, version: Math.max(n + 1, (await this.latestVersion(name)) + 1) };
      const moved = await this.objects.put(claimKey, next, { ifMatch: claim.etag });
      claim = moved ? { value: next, etag: moved } : await this.objects.get(claimKey, StepClaimSchema);
      if (!claim) throw new Error(`registry: claim ${this.objects.uri(claimKey)} vanished`);
    }
    throw new Error(`registry: could not allocate a version of "${name}" after 1000 attempts`);
  }

  /** @throws ModelNotFound naming the object that is missing */
  async getVersion(name: string, version: number): Promise<ModelVersion> {
    checkName(name);
    checkVersion(version);
    const key = this.key(name, `versions/${version}.json`);
    const found = await this.objects.get(key, ModelVersionSchema);
    if (!found) throw new ModelNotFound(`model "${name}" has no version ${version} (${this.objects.uri(key)})`);
    return found.value;
  }

  /** Every version, oldest first. @throws ModelNotFound when the model has none */
  async listVersions(name: string): Promise<ModelVersion[]> {
    const numbers = await this.versionNumbers(name);
    if (!numbers.length) throw new ModelNotFound(this.noModel(name));
    return mapLimit(numbers, 8, (n) => this.getVersion(name, n));
  }

  /** Every model with at least one version, by name. */
  async listModels(): Promise<ModelSummary[]> {
    const prefixes = await this.objects.list('models/', false);
    const names = prefixes.map((p) => p.slice('models/'.length, -1)).filter((n) => MODEL_NAME_PATTERN.test(n));
    const summaries = await mapLimit(names, 4, async (name): Promise<ModelSummary | undefined> => {
      const numbers = await this.versionNumbers(name);
      if (!numbers.length) return undefined;
      const aliases = Object.fromEntries((await this.listAliases(name)).map((a) => [a.alias, a.version]));
      return { name, versions: numbers.length, latest: numbers[numbers.length - 1], aliases };
    });
    return summaries.filter((s): s is ModelSummary => s !== undefined).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Where an alias points now; `undefined` when it is not set. */
  async getAlias(name: string, alias: string): Promise<AliasState | undefined> {
    checkName(name);
    checkAlias(alias);
    const found = await this.objects.get(this.key(name, `aliases/${alias}.json`), AliasChangeSchema);
    return found && found.value.to !== null ? { ...found.value, version: found.value.to, etag: found.etag } : undefined;
  }

  /** Every alias that is set, by name. */
  async listAliases(name: string): Promise<AliasState[]> {
    const keys = await this.objects.list(this.key(name, 'aliases/'));
    const aliases = keys.map((k) => /\/aliases\/([a-z][a-z0-9-]*)\.json$/.exec(k)?.[1]).filter((a) => a !== undefined);
    const states = await mapLimit(aliases, 8, (a) => this.getAlias(name, a));
    return states.filter((s): s is AliasState => s !== undefined);
  }

  /**
   * Points an alias at a version with a conditional write (If-Match on the alias's ETag, If-None-Match when it is
   * new), then appends the change to the alias history. Of two concurrent moves from the same state, one wins and
   * the other gets {@link AliasConflict}.
   *
   * @example
   * const current = await registry.getAlias('flights', 'production');
   * await registry.setAlias('flights', 'production', 7, { ifMatch: current?.etag, reason: 'beats v6 on auc' });
   */
  async setAlias(name: string, alias: string, version: number, opts: SetAliasOptions = {}): Promise<AliasUpdate> {
    checkVersion(version);
    await this.getVersion(name, version);
    return (await this.moveAlias(name, alias, version, opts))!;
  }

  /** Unsets an alias (recorded in the history, `to: null`); `undefined` when it was never set. */
  async removeAlias(name: string, alias: string, opts: SetAliasOptions = {}): Promise<AliasUpdate | undefined> {
    return this.moveAlias(name, alias, null, opts);
  }

  /** Every change of every alias of a model (or of one alias), oldest first. */
  async aliasHistory(name: string, opts: { alias?: string } = {}): Promise<AliasChange[]> {
    checkName(name);
    if (opts.alias !== undefined) checkAlias(opts.alias);
    const entries = (await this.historyEntries(name)).filter((e) => opts.alias === undefined || e.alias === opts.alias);
    const changes = await mapLimit(entries, 8, async (e) => (await this.objects.get(e.key, AliasChangeSchema))?.value);
    const byId = new Map(changes.filter((c) => c !== undefined).map((c) => [c.changeId, c]));
    // The alias object holds its latest change even if the process died before writing the history entry.
    const aliases = opts.alias ? [opts.alias] : await this.aliasNames(name);
    for (const a of aliases) {
      const current = await this.objects.get(this.key(name, `aliases/${a}.json`), AliasChangeSchema);
      if (current && !byId.has(current.value.changeId)) byId.set(current.value.changeId, current.value);
    }
    return [...byId.values()].sort(byTime);
  }

  /** The version an alias pointed at, at a given time (`undefined`: not set then). Answers "what served at T". */
  async versionAt(name: string, alias: string, time: Date | string | number): Promise<number | undefined> {
    checkName(name);
    checkAlias(alias);
    const at = new Date(time);
    if (Number.isNaN(at.getTime())) throw new RegistryInputInvalid(`versionAt: not a time: ${String(time)}`);
    const t = compactTime(at.toISOString());
    const last = (await this.historyEntries(name)).filter((e) => e.alias === alias && e.stamp <= t).pop();
    const candidates: AliasChange[] = [];
    if (last) {
      const change = await this.objects.get(last.key, AliasChangeSchema);
      if (change) candidates.push(change.value);
    }
    const current = await this.objects.get(this.key(name, `aliases/${alias}.json`), AliasChangeSchema);
    if (current && compactTime(current.value.at) <= t) candidates.push(current.value);
    return candidates.sort(byTime).pop()?.to ?? undefined;
  }

  /**
   * The ONNX bytes of a version, refused unless they hash to the registered sha256.
   *
   * @throws ModelIntegrityError naming the expected and actual digests
   */
  async loadModelBytes(name: string, version: number): Promise<Buffer> {
    const v = await this.getVersion(name, version);
    const bytes = await this.readUri(v.onnx.uri);
    if (!bytes) throw new ModelNotFound(`model "${name}" v${version}: ONNX file ${v.onnx.uri} is missing`);
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== v.onnx.sha256) throw new ModelIntegrityError(name, version, v.onnx.uri, v.onnx.sha256, actual);
    return bytes;
  }

  private async moveAlias(
    name: string,
    alias: string,
    to: number | null,
    opts: SetAliasOptions,
  ): Promise<AliasUpdate | undefined> {
    checkName(name);
    checkAlias(alias);
    const key = this.key(name, `aliases/${alias}.json`);
    const current = await this.objects.get(key, AliasChangeSchema);
    const now = current?.value.to ?? null;
    if (current && now === to && opts.runId !== undefined && current.value.runId === opts.runId) {
      return { change: current.value, etag: current.etag, changed: false }; // a retry of the run that moved it
    }
    if (opts.ifMatch !== undefined && stripQuotes(opts.ifMatch) !== current?.etag) {
      throw new AliasConflict(name, alias, opts.expectedVersion, now, 'was changed since it was read (ETag differs)');
    }
    if (opts.expectedVersion !== undefined && opts.expectedVersion !== now) {
      throw new AliasConflict(name, alias, opts.expectedVersion, now, 'is not where the caller expected');
    }
    if (now === to) return current && { change: current.value, etag: current.etag, changed: false };

    if (current) await this.appendHistory(name, current.value); // repairs a history entry lost to a crash
    const prevAt = current ? Date.parse(current.value.at) : 0;
    const change: AliasChange = {
      alias,
      from: now,
      to,
      at: new Date(Math.max(this.clock().getTime(), prevAt + 1)).toISOString(),
      seq: (current?.value.seq ?? 0) + 1,
      changeId: randomBytes(8).toString('hex'),
      ...(opts.runId !== undefined && { runId: opts.runId }),
      ...(opts.reason !== undefined && { reason: opts.reason }),
      ...(opts.by !== undefined && { by: opts.by }),
    };
    const etag = await this.objects.put(key, change, current ? { ifMatch: current.etag } : { ifNoneMatch: true });
    if (!etag) {
      const found = (await this.objects.get(key, AliasChangeSchema))?.value.to ?? null;
      throw new AliasConflict(name, alias, now, found, `moved while being set to ${fmt(to)}`);
    }
    await this.appendHistory(name, change);
    return { change, etag, changed: true };
  }

  private async appendHistory(name: string, change: AliasChange): Promise<void> {
    const key = this.key(name, `history/${compactTime(change.at)}-${change.alias}-${change.changeId}.json`);
    await this.objects.put(key, change, { ifNoneMatch: true }); // already there: nothing to do
  }

  /** History object keys, oldest first, with the time and alias their names carry. */
  private async historyEntries(name: string): Promise<{ key: string; stamp: string; alias: string }[]> {
    const keys = await this.objects.list(this.key(name, 'history/'));
    const entries = keys.flatMap((key) => {
      const m = /\/history\/(\d{8}T\d{9}Z)-([a-z][a-z0-9-]*)-([a-f0-9]{16})\.json$/.exec(key);
      return m ? [{ key, stamp: m[1], alias: m[2] }] : [];
    });
    return entries.sort((a, b) => (a.stamp < b.stamp ? -1 : a.stamp > b.stamp ? 1 : 0));
  }

  private async aliasNames(name: string): Promise<string[]> {
    const keys = await this.objects.list(this.key(name, 'aliases/'));
    return keys.map((k) => /\/aliases\/([a-z][a-z0-9-]*)\.json$/.exec(k)?.[1]).filter((a) => a !== undefined);
  }

  private async versionNumbers(name: string): Promise<number[]> {
    checkName(name);
    const keys = await this.objects.list(this.key(name, 'versions/'));
    const numbers = keys.map((k) => Number(/\/versions\/(\d+)\.json$/.exec(k)?.[1])).filter((n) => n > 0);
    return numbers.sort((a, b) => a - b);
  }

  private async latestVersion(name: string): Promise<number> {
    return (await this.versionNumbers(name)).pop() ?? 0;
  }

  /** Checks what S3 knows without reading the file: that it exists, and the sha256 our store recorded at upload. */
  private async checkOnnx(name: string, onnx: OnnxRef): Promise<void> {
    if (!onnx.uri.startsWith('s3://')) {
      const key = this.storeKey(onnx.uri);
      if (key !== undefined && !(await this.opts.store!.exists(key))) {
        throw new ModelNotFound(`model "${name}": ONNX file ${onnx.uri} does not exist`);
      }
      return;
    }
    const { bucket, key } = parseS3Uri(onnx.uri);
    const stat = await this.objects.stat(bucket, key);
    if (!stat) throw new ModelNotFound(`model "${name}": ONNX file ${onnx.uri} does not exist`);
    const recorded = stat.metaData?.sha256 as string | undefined;
    if (recorded && recorded !== onnx.sha256) {
      throw new ModelIntegrityError(name, undefined, onnx.uri, onnx.sha256, recorded);
    }
  }

  private async readUri(uri: string): Promise<Buffer | undefined> {
    if (uri.startsWith('s3://')) {
      const { bucket, key } = parseS3Uri(uri);
      return this.objects.bytes(bucket, key);
    }
    const key = this.storeKey(uri);
    if (key === undefined) throw new ModelNotFound(`cannot read ${uri}: neither s3:// nor in the registry's store`);
    return this.opts.store!.tryGet(key);
  }

  private storeKey(uri: string): string | undefined {
    const base = this.opts.store?.uri('');
    return base !== undefined && uri.startsWith(base) ? uri.slice(base.length).replace(/^\//, '') : undefined;
  }

  private key(name: string, rest: string): string {
    return `models/${name}/${rest}`;
  }

  private noModel(name: string): string {
    return `no model "${name}" in the registry (${this.objects.uri(this.key(name, ''))})`;
  }
}

function checkName(name: string): void {
  if (!MODEL_NAME_PATTERN.test(name)) {
    throw new RegistryInputInvalid(
      `model name ${JSON.stringify(name)} is invalid: letters, digits, . _ - (at most 128)`,
    );
  }
}

function checkAlias(alias: string): void {
  if (!ALIAS_PATTERN.test(alias)) {
    throw new RegistryInputInvalid(
      `alias ${JSON.stringify(alias)} is invalid: expected [a-z][a-z0-9-]* (e.g. production)`,
    );
  }
}

function checkVersion(version: number): void {
  if (!Number.isInteger(version) || version < 1) {
    throw new RegistryInputInvalid(`version ${String(version)} is invalid: expected 1, 2, 3...`);
  }
}

const stepHash = (runId: string, stepId: string) =>
  createHash('sha256')
    .update(JSON.stringify([runId, stepId]))
    .digest('hex')
    .slice(0, 32);

/** `2026-01-27T12:34:56.789Z` → `20260127T123456789Z`: sorts as time does, safe in a key. */
const compactTime = (iso: string) => iso.replace(/[-:.]/g, '');

const byTime = (a: AliasChange, b: AliasChange) =>
  Date.parse(a.at) - Date.parse(b.at) || a.alias.localeCompare(b.alias) || a.seq - b.seq;

const stripQuotes = (etag: string) => etag.replace(/^"|"$/g, '');

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

type Condition = { ifNoneMatch: true } | { ifMatch: string };

/**
 * JSON objects in one bucket with their ETags, and conditional PUTs. minio-js (8.x) passes `If-None-Match` and
 * `If-Match` given in `putObject`'s metadata as request headers (they are on its list of supported headers, not
 * turned into `x-amz-meta-*`); S3 and MinIO answer 412 PreconditionFailed when the condition does not hold
 * (AWS S3 may answer 409 ConditionalRequestConflict to a concurrent conditional write).
 */
class JsonObjects {
  constructor(
    private readonly client: Minio.Client,
    private readonly bucket: string,
    private readonly endpoint: string,
  ) {}

  uri(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  /** The parsed object and its ETag (unquoted), read in one GET; `undefined` when absent. */
  async get<T>(key: string, schema: z.ZodType<T>): Promise<{ value: T; etag: string } | undefined> {
    const res = await this.call(`get ${key}`, () => this.client.getObject(this.bucket, key));
    if (!res) return undefined;
    const etag = stripQuotes(String((res as unknown as IncomingMessage).headers?.etag ?? ''));
    const body = await readAll(res);
    const parsed = schema.safeParse(JSON.parse(body.toString('utf8')));
    if (!parsed.success) throw new Error(`${this.uri(key)} is not a valid registry record: ${parsed.error.message}`);
    return { value: parsed.data, etag };
  }

  /** The new ETag, or `undefined` when the condition did not hold (nothing was written). */
  async put(key: string, value: unknown, cond: Condition): Promise<string | undefined> {
    const body = Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if ('ifNoneMatch' in cond) headers['If-None-Match'] = '*';
    else headers['If-Match'] = `"${stripQuotes(cond.ifMatch)}"`;
    try {
      const res = await this.call(`put ${key}`, () =>
        this.client.putObject(this.bucket, key, body, body.length, headers),
      );
      return res?.etag;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'PreconditionFailed' || code === 'ConditionalRequestConflict') return undefined;
      // If-Match on an object that was deleted meanwhile.
      if ('ifMatch' in cond && code === 'NoSuchKey') return undefined;
      throw err;
    }
  }

  /** Object keys under a prefix (recursive), or the next level of "folders" (`recursive: false`). */
  async list(prefix: string, recursive = true): Promise<string[]> {
    return this.call(`list ${prefix}`, async () => {
      const out: string[] = [];
      for await (const item of this.client.listObjectsV2(this.bucket, prefix, recursive)) {
        const it = item as Minio.BucketItem;
        if (recursive ? it.name : it.prefix) out.push((it.name ?? it.prefix)!);
      }
      return out;
    }) as Promise<string[]>;
  }

  async stat(bucket: string, key: string): Promise<Minio.BucketItemStat | undefined> {
    return this.call(`stat s3://${bucket}/${key}`, () => this.client.statObject(bucket, key));
  }

  async bytes(bucket: string, key: string): Promise<Buffer | undefined> {
    const res = await this.call(`get s3://${bucket}/${key}`, () => this.client.getObject(bucket, key));
    return res && readAll(res);
  }

  /** Runs one S3 call: `undefined` for a missing object, {@link StoreUnavailable} when the endpoint is unreachable. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (code === 'NoSuchKey' || code === 'NotFound') return undefined;
      if (/ECONNREFUSED|ENOTFOUND|ETIMEDOUT|ECONNRESET|EHOSTUNREACH/.test(code)) {
        throw new StoreUnavailable(`object store ${this.endpoint} unreachable (${code}) during ${what}`);
      }
      if (!code || code === 'PreconditionFailed' || code === 'ConditionalRequestConflict') throw err;
      // S3's own messages ("The specified bucket does not exist") do not say which bucket or call.
      const message = `${(err as Error).message} (${code}) during ${what} in bucket ${this.bucket} at ${this.endpoint}`;
      throw Object.assign(new Error(message, { cause: err }), { code });
    }
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
