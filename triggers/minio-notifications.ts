import type * as Minio from 'minio';
import { ObjectCreatedAll } from 'minio';
import { ensureBucket } from '../storage/s3-client';
import type { PipelineCatalog } from '../api/pipeline-catalog';
import { objectCreatedPipelines } from './object-created';

/**
 * MinIO side of `on.objectCreated`: a webhook notification target pointing at `POST /v1/hooks/minio`, configured
 * through MinIO's environment (read once at start), and a bucket notification config on every watched bucket.
 */

/** Id of mlpipe's webhook target in MinIO's config (the `_MLPIPE` suffix of the variables). */
export const MINIO_WEBHOOK_TARGET_ID = 'MLPIPE';
/** ARN MinIO gives the target (it prints it at start as "SQS ARNs"). */
export const MINIO_WEBHOOK_ARN = `arn:minio:sqs::${MINIO_WEBHOOK_TARGET_ID}:webhook`;
/** Path of the hook route in the API app. */
export const MINIO_HOOK_PATH = '/v1/hooks/minio';

export interface MinioWebhookOptions {
  /** Where MinIO posts events, e.g. `http://127.0.0.1:8090/v1/hooks/minio` (see {@link minioHookUrl}). */
  endpoint: string;
  /** Sent as `Authorization: Bearer <token>`; the API's `MLPIPE_WEBHOOK_TOKEN`. */
  authToken: string;
  /**
   * Folder where MinIO keeps events until the hook accepts them (API down, restarting, not started yet). Without
   * it, an event that cannot be delivered at once is dropped.
   */
  queueDir?: string;
  /** Most events kept in `queueDir`. @default 100000 (MinIO's) */
  queueLimit?: number;
}

/** `http://<host>:<port>/v1/hooks/minio` */
export const minioHookUrl = (host: string, port: number) => `http://${host}:${port}${MINIO_HOOK_PATH}`;

/**
 * The environment that makes a MinIO server send bucket notifications to mlpipe's hook. Merge it into the MinIO
 * child's env; MinIO reads it at start only.
 *
 * @example
 * spawn(minio, ['server', dataDir], { env: { ...process.env, ...minioWebhookEnv({ endpoint, authToken }) } });
 */
export function minioWebhookEnv(opts: MinioWebhookOptions): Record<string, string> {
  const id = MINIO_WEBHOOK_TARGET_ID;
  return {
    [`MINIO_NOTIFY_WEBHOOK_ENABLE_${id}`]: 'on',
    [`MINIO_NOTIFY_WEBHOOK_ENDPOINT_${id}`]: opts.endpoint,
    [`MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_${id}`]: opts.authToken,
    ...(opts.queueDir ? { [`MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_${id}`]: opts.queueDir } : {}),
    ...(opts.queueLimit !== undefined ? { [`MINIO_NOTIFY_WEBHOOK_QUEUE_LIMIT_${id}`]: String(opts.queueLimit) } : {}),
  };
}

type FilterRule = { Name: string; Value: string };
type ParsedTarget = { Id?: string; Event: string[]; Filter: FilterRule[] } & Record<string, unknown>;

/** A config read by `getBucketNotification` back into the shape `setBucketNotification` writes. */
function toWritable(t: ParsedTarget): Record<string, unknown> {
  const { Filter, ...rest } = t;
  return { ...rest, ...(Filter.length ? { Filter: { S3Key: { FilterRule: Filter } } } : {}) };
}

/**
 * Makes `bucket` notify mlpipe's webhook target of every new object (`s3:ObjectCreated:*`). Other notification
 * configs of the bucket are kept; an earlier mlpipe config is replaced, so calling it again is harmless. Matching on
 * prefix and suffix happens in mlpipe, where several pipelines may watch one bucket.
 */
export async function applyBucketNotification(
  client: Minio.Client,
  bucket: string,
  arn: string = MINIO_WEBHOOK_ARN,
): Promise<void> {
  const current = (await client.getBucketNotification(bucket)) as unknown as Record<string, ParsedTarget[]>;
  const kinds = {
    TopicConfiguration: 'Topic',
    QueueConfiguration: 'Queue',
    CloudFunctionConfiguration: 'CloudFunction',
  };
  const config: Record<string, Record<string, unknown>[]> = {};
  for (const [kind, arnKey] of Object.entries(kinds)) {
    const kept = (current[kind] ?? []).filter((t) => t[arnKey] !== arn).map(toWritable);
    if (kept.length) config[kind] = kept;
  }
  config.QueueConfiguration = [
    ...(config.QueueConfiguration ?? []),
    { Id: 'mlpipe-object-created', Queue: arn, Event: [ObjectCreatedAll] },
  ];
  await client.setBucketNotification(bucket, config as never);
}

/** The buckets watched by `on.objectCreated` of the valid pipelines in the catalog. */
export async function watchedBuckets(catalog: PipelineCatalog): Promise<string[]> {
  return [...new Set((await objectCreatedPipelines(catalog)).map((p) => p.trigger.bucket))].sort();
}

/**
 * Configures every bucket the catalog's pipelines watch (creating missing ones when `region` is given, as the
 * embedded MinIO does) and returns their names.
 *
 * @example
 * const buckets = await applyObjectCreatedNotifications(s3, catalog, { region: 'us-east-1' });
 */
export async function applyObjectCreatedNotifications(
  client: Minio.Client,
  catalog: PipelineCatalog,
  opts: { region?: string; arn?: string } = {},
): Promise<string[]> {
  const buckets = await watchedBuckets(catalog);
  for (const bucket of buckets) {
    if (opts.region) await ensureBucket(client, bucket, opts.region);
    await applyBucketNotification(client, bucket, opts.arn);
  }
  return buckets;
}
