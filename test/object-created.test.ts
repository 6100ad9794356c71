import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Hono } from 'hono';
import type * as Minio from 'minio';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MlpipeClient } from '../client/mlpipe-client';
import { loadConfig } from '../config/env';
import { createApiApp } from '../api/app';
import { createPipelineCatalog } from '../api/pipeline-catalog';
import { startApiServer, type ApiServer } from '../api/server';
import type { HookResponse } from '../api/schemas';
import { ensureBinaries } from '../cli/binaries';
import { startMinio } from '../cli/embedded-stack';
import { getFreePort } from '../cli/ports';
import type { ManagedProcess } from '../cli/processes';
import { createS3Client } from '../storage/s3-client';
import {
  applyBucketNotification,
  applyObjectCreatedNotifications,
  MINIO_WEBHOOK_ARN,
  minioHookUrl,
  minioWebhookEnv,
} from '../triggers/minio-notifications';
import { decodeEventKey, objectRunId, triggerMatches } from '../triggers/object-created';
import { uniqueId } from './helpers';
import { waitFor } from './wait';

const until = <T>(what: string, probe: () => Promise<T | undefined> | T | undefined) =>
  waitFor(what, probe, { intervalMs: 200, retryErrors: true });

const HOOK_TOKEN = 'hook-token-for-the-test-0001';
const BUCKET = 'incoming';

// Two pipelines watch the bucket; the shared worker does not search this folder, so the API sends them inline.
const ON_CSV = `
name: on-csv
description: A new CSV under raw/ starts a run with its URI
params:
  source: { type: string }
  note: { type: string, default: nightly }
on:
  objectCreated: { bucket: ${BUCKET}, prefix: raw/, suffix: .csv }
steps:
  show:
    uses: echo
    with: { source: '\${{ params.source }}', note: '\${{ params.note }}' }
`;
const ON_JSON = `
name: on-json
params:
  file: { type: string }
on:
  objectCreated: { bucket: ${BUCKET}, prefix: meta/, suffix: .json, param: file }
steps:
  show: { uses: echo, with: { file: '\${{ params.file }}' } }
`;

interface Delivery {
  keys: string[];
  response: HookResponse;
}

describe('on.objectCreated: MinIO bucket notifications start pipelines', () => {
  const stack = inject('stack');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlpipe-objects-'));
  const creds = { accessKey: 'objects-test', secretKey: 'objects-test-secret', region: 'us-east-1' };
  const deliveries: Delivery[] = [];
  let minio: ManagedProcess | undefined;
  let server: ApiServer | undefined;
  let mlpipe: MlpipeClient;
  let s3: Minio.Client;
  let app: ReturnType<typeof createApiApp>;
  const catalog = createPipelineCatalog({ dirs: [path.join(dir, 'pipelines')] });

  /** Runs of a pipeline in Temporal's visibility store. */
  const runsOf = async (pipeline: string) => {
    const ids: string[] = [];
    for await (const w of mlpipe.client.workflow.list({ query: `MlpipePipeline = '${pipeline}'` })) {
      ids.push(w.workflowId);
    }
    return ids;
  };

  /** Uploads and waits until MinIO has delivered the notification and the hook has answered it. */
  const upload = async (key: string, bytes: string): Promise<HookResponse> => {
    const seen = deliveries.length;
    await s3.putObject(BUCKET, key, Buffer.from(bytes));
    return until(
      `the notification of ${key}`,
      () => deliveries.slice(seen).find((d) => d.keys.includes(key))?.response,
    );
  };

  beforeAll(async () => {
    fs.mkdirSync(path.join(dir, 'pipelines'));
    fs.writeFileSync(path.join(dir, 'pipelines', 'on-csv.yaml'), ON_CSV);
    fs.writeFileSync(path.join(dir, 'pipelines', 'on-json.yaml'), ON_JSON);
    mlpipe = await MlpipeClient.connect({ config: loadConfig({ TEMPORAL_ADDRESS: stack.temporalAddress }) });
    app = createApiApp({ mlpipe, pipelines: catalog, tokens: [], webhookToken: HOOK_TOKEN, inlineDefinitions: true });

    // The real server, with a recorder in front of the hook so the test knows when a notification was handled.
    const recorded = new Hono();
    recorded.post('/v1/hooks/minio', async (c) => {
      const body = (await c.req.raw.clone().json()) as { Records?: { s3: { object: { key: string } } }[] };
      const res = await app.fetch(c.req.raw);
      if (res.ok) {
        const keys = (body.Records ?? []).map((r) => decodeEventKey(r.s3.object.key));
        deliveries.push({ keys, response: (await res.clone().json()) as HookResponse });
      }
      return res;
    });
    recorded.all('*', (c) => app.fetch(c.req.raw));
    const apiPort = await getFreePort();
    server = await startApiServer({ app: recorded, port: apiPort });

    // Our own MinIO, told by its environment to post bucket notifications to that server.
    const { minio: bin } = await ensureBinaries({ devserver: false, minio: true });
    const started = await startMinio(bin!, {
      port: await getFreePort(),
      consolePort: await getFreePort(),
      dataDir: path.join(dir, 'data'),
      ...creds,
      bucket: BUCKET,
      env: minioWebhookEnv({
        endpoint: minioHookUrl('127.0.0.1', apiPort),
        authToken: HOOK_TOKEN,
        queueDir: path.join(dir, 'minio-events'),
      }),
      logFile: path.join(dir, 'minio.log'),
    });
    minio = started.proc;
    const endpoint = started.endpoint;
    s3 = createS3Client({ endpoint, ...creds });
    expect(await applyObjectCreatedNotifications(s3, catalog, { region: creds.region })).toEqual([BUCKET]);
  });

  afterAll(async () => {
    await server?.close();
    await minio?.stop();
    await mlpipe?.close();
    if (!process.env.MLPIPE_KEEP_TEST_HOME) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('configures the bucket once, however often it is applied', async () => {
    await applyBucketNotification(s3, BUCKET);
    const config = (await s3.getBucketNotification(BUCKET)) as unknown as { QueueConfiguration: { Queue: string }[] };
    expect(config.QueueConfiguration.map((q) => q.Queue)).toEqual([MINIO_WEBHOOK_ARN]);
  });

  it('an uploaded file starts exactly one run, with its URI as the param', async () => {
    const key = `raw/${uniqueId('day')}/flights 2001+01.csv`;
    const uri = `s3://${BUCKET}/${key}`;
    const first = await upload(key, 'date,delay\n2001-01-01,12\n');
    expect(first.started).toEqual([{ pipeline: 'on-csv', uri, runId: expect.stringMatching(/^on-csv-object-/) }]);
    expect(first.existing).toEqual([]);
    const { runId } = first.started[0];

    await mlpipe.run(runId).result();
    const status = await mlpipe.run(runId).status();
    expect(status).toMatchObject({ pipeline: 'on-csv', state: 'succeeded', params: { source: uri, note: 'nightly' } });
    expect((await mlpipe.run(runId).describe()).searchAttributes.MlpipeTrigger).toEqual(['objectCreated']);
    expect(
      await until('the run in visibility', async () =>
        (await runsOf('on-csv')).length ? runsOf('on-csv') : undefined,
      ),
    ).toEqual([runId]);

    // The same bytes again: same ETag, same run id; MinIO notifies, nothing starts.
    const again = await upload(key, 'date,delay\n2001-01-01,12\n');
    expect(again.started).toEqual([]);
    expect(again.existing).toEqual([{ pipeline: 'on-csv', uri, runId }]);

    // New bytes under the same key are a new object version: one more run.
    const changed = await upload(key, 'date,delay\n2001-01-01,12\n2001-01-02,3\n');
    expect(changed.started).toHaveLength(1);
    expect(changed.started[0].runId).not.toBe(runId);
    await mlpipe.run(changed.started[0].runId).result();
    expect((await runsOf('on-csv')).sort()).toEqual([runId, changed.started[0].runId].sort());
  });

  it('keys that match no trigger start nothing; the param named by the trigger gets the URI', async () => {
    const before = await runsOf('on-csv');
    for (const key of [`raw/${uniqueId('x')}.txt`, `elsewhere/${uniqueId('x')}.csv`, `meta/${uniqueId('x')}.csv`]) {
      const res = await upload(key, 'not for any pipeline');
      expect(res, key).toEqual({ started: [], existing: [], skipped: [], ignored: 0 });
    }
    expect(await runsOf('on-csv')).toEqual(before);
    expect(await runsOf('on-json')).toEqual([]);

    const key = `meta/${uniqueId('schema')}.json`;
    const res = await upload(key, '{"columns": 5}');
    expect(res.started.map((s) => s.pipeline)).toEqual(['on-json']);
    const status = await mlpipe.run(res.started[0].runId).status();
    expect(status.params).toEqual({ file: `s3://${BUCKET}/${key}` });
  });

  it('the hook wants its own token; without MLPIPE_WEBHOOK_TOKEN it is off', async () => {
    const event = { Records: [] };
    const post = (a: typeof app, token?: string) =>
      a.request('/v1/hooks/minio', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(event),
      });
    expect((await post(app)).status).toBe(401);
    expect((await post(app, 'token-all-pipelines-0001')).status).toBe(401);
    expect(await (await post(app, HOOK_TOKEN)).json()).toEqual({ started: [], existing: [], skipped: [], ignored: 0 });
    const off = createApiApp({ mlpipe, pipelines: catalog, tokens: [] });
    expect((await post(off, HOOK_TOKEN)).status).toBe(503);
    const bad = await app.request('/v1/hooks/minio', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${HOOK_TOKEN}` },
      body: JSON.stringify({ Records: [{ eventName: 's3:ObjectCreated:Put', s3: { bucket: {} } }] }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('invalid_body');
  });

  it('matching, key decoding and run ids are pure functions', () => {
    const trigger = { bucket: 'b', prefix: 'raw/', suffix: '.csv' };
    expect(triggerMatches(trigger, { bucket: 'b', key: 'raw/a.csv' })).toBe(true);
    expect(triggerMatches(trigger, { bucket: 'c', key: 'raw/a.csv' })).toBe(false);
    expect(triggerMatches(trigger, { bucket: 'b', key: 'raw/a.csv.gz' })).toBe(false);
    expect(triggerMatches({ bucket: 'b' }, { bucket: 'b', key: 'anything' })).toBe(true);
    expect(decodeEventKey('in%2Fx%2By+%C3%A9.csv')).toBe('in/x+y é.csv');
    const obj = { bucket: 'b', key: 'k', etag: 'e1' };
    expect(objectRunId('p', obj)).toBe(objectRunId('p', { ...obj }));
    expect(objectRunId('p', obj)).not.toBe(objectRunId('p', { ...obj, etag: 'e2' }));
    expect(objectRunId('p', obj)).not.toBe(objectRunId('q', obj));
    expect(objectRunId('p', obj)).toMatch(/^p-object-[0-9a-f]{32}$/);
  });
});
