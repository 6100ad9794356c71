import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { ArtifactStore } from './artifact-store';

/** Where a dataset snapshot lives under the store: `datasets/<sha256>.<ext>`, its metadata beside it. */
export const DATASET_PREFIX = 'datasets/';

/** Error names of dataset snapshots (the `type` an activity gives its `ApplicationFailure`). */
export const DatasetErrorTypes = {
  /** No snapshot with that digest or URI in this store: ingest it first or fix the reference. */
  DatasetNotFound: 'DatasetNotFound',
  /** The stored bytes no longer hash to their address: the snapshot was tampered with; re-ingest it. */
  DatasetIntegrityError: 'DatasetIntegrityError',
} as const;

/** No snapshot with that digest or URI in this store. */
export class DatasetNotFound extends Error {
  override readonly name = DatasetErrorTypes.DatasetNotFound;
}

/** The stored bytes do not hash to the digest they are stored under. */
export class DatasetIntegrityError extends Error {
  override readonly name = DatasetErrorTypes.DatasetIntegrityError;
  constructor(
    readonly uri: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`dataset ${uri}: sha256 is ${actual}, expected ${expected}; refusing to use it`);
  }
}

/** An `s3://bucket/key` URI taken apart. */
export interface S3Location {
  bucket: string;
  key: string;
}

/**
 * Splits an `s3://bucket/key` URI. Throws a `TypeError` naming the URI when it is not one.
 *
 * @example
 * parseS3Uri('s3://mlpipe/datasets/ab12.arrow'); // { bucket: 'mlpipe', key: 'datasets/ab12.arrow' }
 */
export function parseS3Uri(uri: string): S3Location {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/.exec(uri);
  if (!m) throw new TypeError(`not an s3://bucket/key URI: ${JSON.stringify(uri)}`);
  return { bucket: m[1], key: m[2] };
}

const SHA256 = /^[a-f0-9]{64}$/;

export const DatasetMetaSchema = z.object({
  /** File extension of the format, e.g. `arrow`, `parquet`, `csv`. @default bin */
  ext: z
    .string()
    .regex(/^[a-z0-9]{1,16}$/, 'expected a file extension such as arrow, parquet or csv')
    .default('bin'),
  /** @default application/octet-stream */
  contentType: z.string().min(1).default('application/octet-stream'),
  /** Row count, when the caller knows it. */
  rows: z.number().int().nonnegative().optional(),
  /** Where the data came from (a source URI, a query, ...), for lineage. */
  source: z.string().optional(),
});
export type DatasetMeta = z.input<typeof DatasetMetaSchema>;

const SnapshotRecordSchema = z.object({
  sha256: z.string().regex(SHA256),
  size: z.number().int().nonnegative(),
  key: z.string(),
  ext: z.string(),
  contentType: z.string(),
  rows: z.number().int().nonnegative().optional(),
  source: z.string().optional(),
  createdAt: z.string(),
});
type SnapshotRecord = z.infer<typeof SnapshotRecordSchema>;

/** A stored snapshot: what steps pass along (`uri` + `sha256`) and what is known about it. */
export interface DatasetSnapshot {
  uri: string;
  sha256: string;
  size: number;
  rows?: number;
  /** `false` when identical bytes were already stored (nothing was written). */
  created: boolean;
}

const metaKey = (sha: string) => `${DATASET_PREFIX}${sha}.meta.json`;
const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Stores `bytes` at `datasets/<sha256>.<ext>` unless a snapshot with that digest exists: ingesting the same data twice
 * stores it once. The metadata object is written last, so a snapshot counts as present only once its bytes are.
 *
 * @example
 * const snap = await putDataset(store, arrowBytes, { ext: 'arrow', rows: table.numRows });
 * // { uri: 's3://mlpipe/datasets/9f86…08.arrow', sha256: '9f86…08', size: 1234, rows: 10, created: true }
 */
export async function putDataset(
  store: ArtifactStore,
  bytes: Buffer,
  meta: DatasetMeta = {},
): Promise<DatasetSnapshot> {
  const m = DatasetMetaSchema.parse(meta);
  const sha256 = digest(bytes);
  const existing = await readRecord(store, sha256);
  if (existing) {
    return { uri: store.uri(existing.key), sha256, size: existing.size, rows: existing.rows, created: false };
  }
  const key = `${DATASET_PREFIX}${sha256}.${m.ext}`;
  // Two concurrent ingestions of the same bytes both write here; the content is identical, so either write is right.
  const put = await store.put(key, bytes, { contentType: m.contentType });
  const record: SnapshotRecord = {
    sha256,
    size: bytes.length,
    key,
    ext: m.ext,
    contentType: m.contentType,
    rows: m.rows,
    source: m.source,
    createdAt: new Date().toISOString(),
  };
  await store.put(metaKey(sha256), JSON.stringify(record, null, 2), { contentType: 'application/json' });
  return { uri: put.uri, sha256, size: bytes.length, rows: m.rows, created: true };
}

/** A snapshot read back, its bytes checked against its digest. */
export interface LoadedDataset extends Omit<DatasetSnapshot, 'created'> {
  bytes: Buffer;
  ext: string;
  contentType: string;
  source?: string;
  createdAt: string;
}

/**
 * Reads a snapshot by its URI (as {@link putDataset} returned it) or by its sha256, and refuses bytes that no longer
 * hash to their address.
 *
 * @example
 * const { bytes, rows } = await getDataset(store, snap.sha256);
 */
export async function getDataset(store: ArtifactStore, uriOrSha: string): Promise<LoadedDataset> {
  const sha256 = SHA256.test(uriOrSha) ? uriOrSha : shaOfUri(store, uriOrSha);
  const record = await readRecord(store, sha256);
  if (!record) throw new DatasetNotFound(`no dataset snapshot ${sha256} in ${store.uri(DATASET_PREFIX)}`);
  const uri = store.uri(record.key);
  const bytes = await store.tryGet(record.key);
  if (!bytes) throw new DatasetNotFound(`dataset snapshot ${sha256} is recorded but ${uri} is missing`);
  const actual = digest(bytes);
  if (actual !== sha256) throw new DatasetIntegrityError(uri, sha256, actual);
  const { ext, contentType, rows, source, createdAt } = record;
  return { uri, sha256, size: bytes.length, rows, bytes, ext, contentType, source, createdAt };
}

function shaOfUri(store: ArtifactStore, uri: string): string {
  const base = store.uri(DATASET_PREFIX);
  // file:// stores drop the trailing slash of a folder URI; S3 stores keep it.
  const rest = uri.startsWith(base) ? uri.slice(base.length).replace(/^\//, '') : '';
  const m = /^([a-f0-9]{64})\.[a-z0-9]+$/.exec(rest);
  if (!m) throw new DatasetNotFound(`${uri} is not a dataset snapshot of this store (expected ${base}<sha256>.<ext>)`);
  return m[1];
}

async function readRecord(store: ArtifactStore, sha256: string): Promise<SnapshotRecord | undefined> {
  const raw = await store.tryGet(metaKey(sha256));
  return raw ? SnapshotRecordSchema.parse(JSON.parse(raw.toString('utf8'))) : undefined;
}
