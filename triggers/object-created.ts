import { createHash } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { MlpipeClient } from '../client/mlpipe-client';
import { resolveParams } from '../definitions/params';
import type { Pipeline, Triggers } from '../definitions/schema';
import type { PipelineCatalog } from '../api/pipeline-catalog';
import type { HookResponse, MinioEvent } from '../api/schemas';

/**
 * `on: { objectCreated: { bucket, prefix, suffix, param } }`: a new object in a watched bucket starts the pipelines
 * that match it, with the object's URI as a param. One object version (bucket + key + ETag) starts at most one run of
 * each pipeline, however often its notification arrives: the run id derives from them and Temporal refuses a second
 * workflow with that id (REJECT_DUPLICATE).
 */

/** Param that receives the object's URI when the trigger names none. */
export const DEFAULT_OBJECT_PARAM = 'source';
/** Recorded in the MlpipeTrigger search attribute of runs this trigger starts. */
export const OBJECT_CREATED_TRIGGER = 'objectCreated';

/** A new object, as a notification reports it (key decoded). */
export interface CreatedObject {
  bucket: string;
  key: string;
  /** Without quotes; undefined when the event carried none. */
  etag?: string;
  /** `s3://bucket/key` */
  uri: string;
}

export type ObjectCreatedTrigger = NonNullable<Triggers['objectCreated']>;

/** What starting runs needs: a client (the real one, or anything with its `start` and `run`) and the pipelines. */
export interface ObjectCreatedDeps {
  mlpipe: Pick<MlpipeClient, 'start' | 'run'>;
  pipelines: PipelineCatalog;
  /**
   * Send the validated definition with the run instead of its name (for definitions the workers cannot find).
   * @default false
   */
  inlineDefinitions?: boolean;
  log?: (line: string) => void;
}

/**
 * S3 event keys are URL-encoded with query escaping (`+` is a space, `%2B` a plus).
 *
 * @example
 * decodeEventKey('in%2Fx%2By+%C3%A9.csv'); // 'in/x+y é.csv'
 */
export function decodeEventKey(key: string): string {
  const spaced = key.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced; // not valid percent-encoding: take it as it is
  }
}

/** The new objects of an event (records other than `s3:ObjectCreated:*` are counted as ignored). */
export function createdObjects(event: MinioEvent): { objects: CreatedObject[]; ignored: number } {
  const objects: CreatedObject[] = [];
  let ignored = 0;
  for (const r of event.Records) {
    if (!r.eventName.startsWith('s3:ObjectCreated:')) {
      ignored++;
      continue;
    }
    const bucket = r.s3.bucket.name;
    const key = decodeEventKey(r.s3.object.key);
    const etag = r.s3.object.eTag?.replace(/^"|"$/g, '') || undefined;
    objects.push({ bucket, key, etag, uri: `s3://${bucket}/${key}` });
  }
  return { objects, ignored };
}

/** Whether a trigger watches this object: same bucket, key starts with `prefix` and ends with `suffix`. */
export function triggerMatches(trigger: ObjectCreatedTrigger, obj: Pick<CreatedObject, 'bucket' | 'key'>): boolean {
  return (
    trigger.bucket === obj.bucket && obj.key.startsWith(trigger.prefix ?? '') && obj.key.endsWith(trigger.suffix ?? '')
  );
}

/**
 * The run id of `pipeline` for one object version: readable prefix, then a hash of pipeline, bucket, key and ETag
 * (keys may be 1,024 bytes and hold any character; workflow ids should not).
 *
 * @example
 * objectRunId('ingest', { bucket: 'raw', key: 'a.csv', etag: '9b2c...' }); // 'ingest-object-3f1d...'
 */
export function objectRunId(pipeline: string, obj: Pick<CreatedObject, 'bucket' | 'key' | 'etag'>): string {
  // Without an ETag there is nothing that tells versions apart: every notification then starts its own run.
  const version = obj.etag ?? `no-etag-${Date.now()}-${Math.random()}`;
  const hash = createHash('sha256')
    .update(JSON.stringify([pipeline, obj.bucket, obj.key, version]))
    .digest('hex');
  return `${pipeline}-object-${hash.slice(0, 32)}`;
}

/** Every valid pipeline of the catalog that has an `on.objectCreated` trigger. */
export async function objectCreatedPipelines(
  catalog: PipelineCatalog,
): Promise<{ definition: Pipeline; trigger: ObjectCreatedTrigger }[]> {
  const found: { definition: Pipeline; trigger: ObjectCreatedTrigger }[] = [];
  for (const entry of await catalog.list()) {
    const trigger = entry.result.definition?.on?.objectCreated;
    if (entry.result.ok && trigger) found.push({ definition: entry.result.definition!, trigger });
  }
  return found;
}

/**
 * Starts, for each object, every pipeline whose trigger matches it, with the object's URI as the trigger's param.
 * Already started (same object version) is reported as `existing`, not an error; a failure to reach Temporal
 * rejects (the caller answers 5xx so that MinIO delivers the event again; the run ids keep that safe).
 */
export async function startObjectCreatedRuns(
  deps: ObjectCreatedDeps,
  objects: readonly CreatedObject[],
): Promise<Omit<HookResponse, 'ignored'>> {
  const out: Omit<HookResponse, 'ignored'> = { started: [], existing: [], skipped: [] };
  if (!objects.length) return out;
  const watching = await objectCreatedPipelines(deps.pipelines);
  for (const obj of objects) {
    for (const { definition, trigger } of watching) {
      if (!triggerMatches(trigger, obj)) continue;
      const pipeline = definition.name;
      const param = trigger.param ?? DEFAULT_OBJECT_PARAM;
      const skip = (reason: string) => {
        deps.log?.(`object ${obj.uri} matches ${pipeline} but cannot start it: ${reason}`);
        out.skipped.push({ pipeline, uri: obj.uri, reason });
      };
      if (!Object.hasOwn(definition.params ?? {}, param)) {
        skip(`the pipeline has no param "${param}" for the URI`);
        continue;
      }
      const params = resolveParams(definition, { [param]: obj.uri });
      if (!params.ok) {
        skip(params.issues.join('; '));
        continue;
      }
      const runId = objectRunId(pipeline, obj);
      if (await runExists(deps.mlpipe, runId)) {
        out.existing.push({ pipeline, uri: obj.uri, runId });
        continue;
      }
      const run = await deps.mlpipe.start(pipeline, params.params, {
        runId,
        // With a key the client uses REJECT_DUPLICATE and answers "already started" with the existing run.
        idempotencyKey: runId,
        definition: deps.inlineDefinitions ? definition : undefined,
        trigger: OBJECT_CREATED_TRIGGER,
      });
      deps.log?.(`object ${obj.uri} started ${run.runId}`);
      out.started.push({ pipeline, uri: obj.uri, runId: run.runId });
    }
  }
  return out;
}

/** Whether a workflow with this id exists (running or closed). */
export async function runExists(mlpipe: Pick<MlpipeClient, 'run'>, runId: string): Promise<boolean> {
  try {
    await mlpipe.run(runId).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}
