import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { inject } from 'vitest';
import { MlpipeClient } from '../client/mlpipe-client';
import { ConfigInvalid, loadConfig } from '../config/env';
import { createApiApp } from '../api/app';
import { createPipelineCatalog } from '../api/pipeline-catalog';
import { startApiServer } from '../api/server';
import { startApiService } from '../cli/api';
import { listRuns, registerRunsListCommand, runsQuery, type RunSummary } from '../cli/runs-list';
import { uniqueId } from './helpers';
import { waitFor } from './wait';

const until = <T>(what: string, probe: () => Promise<T | undefined>) => waitFor(what, probe, { retryErrors: true });

const ALL = 'token-all-pipelines-0001';
const HELLO_ONLY = 'token-hello-only-000001';

const SLOW = `
name: api-slow
description: Sleeps long enough to be cancelled
params:
  duration: { type: string, default: 5m }
steps:
  nap:
    uses: sleep
    with: { duration: '\${{ params.duration }}' }
`;
const OTHER = `
name: api-other
steps:
  say: { uses: echo, with: { text: hi } }
`;

describe('HTTP API against the real Temporal', () => {
  const stack = inject('stack');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlpipe-api-'));
  let mlpipe: MlpipeClient;
  let app: ReturnType<typeof createApiApp>;
  /** Sends definitions inline: the shared worker does not search `dir`. */
  let inlineApp: ReturnType<typeof createApiApp>;

  const call = (
    token: string | undefined,
    method: string,
    url: string,
    body?: unknown,
    extra: Record<string, string> = {},
    on = app,
  ) =>
    on.request(url, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...extra,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });

  const finished = (runId: string) =>
    until(`run ${runId} to end`, async () => {
      const res = await call(ALL, 'GET', `/v1/runs/${runId}`);
      const body = (await res.json()) as { temporal: { status: string }; status: { state: string } | null };
      return body.temporal.status !== 'RUNNING' && body.status ? body : undefined;
    });

  beforeAll(async () => {
    fs.writeFileSync(path.join(dir, 'api-slow.yaml'), SLOW);
    fs.writeFileSync(path.join(dir, 'api-other.yaml'), OTHER);
    const config = loadConfig({
      TEMPORAL_ADDRESS: stack.temporalAddress,
      MLPIPE_API_TOKENS: `${ALL}:*, ${HELLO_ONLY}:hello|flights-delay`,
    });
    mlpipe = await MlpipeClient.connect({ config });
    const pipelines = createPipelineCatalog({ dirs: [dir, path.join(__dirname, '..', 'definitions', 'pipelines')] });
    app = createApiApp({ mlpipe, pipelines, tokens: config.api.tokens });
    inlineApp = createApiApp({ mlpipe, pipelines, tokens: config.api.tokens, inlineDefinitions: true });
  });
  afterAll(async () => {
    await mlpipe?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads MLPIPE_API_TOKENS into grants and never echoes a token in its errors', () => {
    expect(loadConfig({ MLPIPE_API_TOKENS: `${ALL}:*,${HELLO_ONLY}:hello|x` }).api.tokens).toEqual([
      { token: ALL, pipelines: '*' },
      { token: HELLO_ONLY, pipelines: ['hello', 'x'] },
    ]);
    for (const bad of ['short:*', `${ALL}`, `${ALL}:bad name`, `${ALL}:*,${ALL}:*`]) {
      const err = (() => {
        try {
          loadConfig({ MLPIPE_API_TOKENS: bad });
        } catch (e) {
          return e as Error;
        }
      })();
      expect(err, bad).toBeInstanceOf(ConfigInvalid);
      expect(err!.message).toMatch(/MLPIPE_API_TOKENS: entry \d/);
      expect(err!.message).not.toContain(ALL);
    }
  });

  it('answers 401 without a token or with a wrong one, 403 for a pipeline the token may not start', async () => {
    for (const token of [undefined, 'not-a-valid-token-at-all']) {
      const res = await call(token, 'POST', '/v1/pipelines/hello/runs', {});
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('unauthorized');
      expect(body.error.message).not.toContain('not-a-valid-token');
    }
    const res = await call(HELLO_ONLY, 'POST', '/v1/pipelines/api-other/runs', {});
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({
      error: { code: 'forbidden', message: 'this token may not start pipeline "api-other"' },
    });
  });

  it('lists the pipelines a token may start, with descriptions and params', async () => {
    const all = (await (await call(ALL, 'GET', '/v1/pipelines')).json()) as { pipelines: { name: string }[] };
    expect(all.pipelines.map((p) => p.name)).toEqual(expect.arrayContaining(['api-other', 'api-slow', 'hello']));
    const res = await call(HELLO_ONLY, 'GET', '/v1/pipelines');
    expect(res.status).toBe(200);
    const { pipelines } = (await res.json()) as { pipelines: Record<string, unknown>[] };
    expect(pipelines.map((p) => p.name).every((n) => n === 'hello' || n === 'flights-delay')).toBe(true);
    expect(pipelines.find((p) => p.name === 'hello')).toMatchObject({
      description: expect.stringContaining('smallest pipeline'),
      params: { who: { type: 'string', default: 'world' }, times: { type: 'integer', minimum: 1, maximum: 10 } },
      valid: true,
    });
  });

  it('starts hello (202) with typed params; GET /v1/runs/{id} follows it to the end', async () => {
    const res = await call(HELLO_ONLY, 'POST', '/v1/pipelines/hello/runs', { params: { who: 'api', times: '3' } });
    expect(res.status).toBe(202);
    const { runId, existing } = (await res.json()) as { runId: string; existing: boolean };
    expect(runId).toMatch(/^hello-/);
    expect(existing).toBe(false);

    const done = await finished(runId);
    expect(done).toMatchObject({
      runId,
      pipeline: 'hello',
      temporal: { status: 'COMPLETED', workflowType: 'pipeline', closeTime: expect.any(String) },
      status: { state: 'succeeded', params: { who: 'api', times: 3 } },
    });
    const described = await mlpipe.run(runId).describe();
    expect(described.searchAttributes.MlpipeTrigger).toEqual(['http']);
  });

  it('the same idempotency key starts one run, even when sent twice at once and again after it ended', async () => {
    const idempotencyKey = uniqueId('nightly');
    const [a, b] = await Promise.all(
      [1, 2].map(() => call(ALL, 'POST', '/v1/pipelines/hello/runs', { idempotencyKey, params: { times: 1 } })),
    );
    const [ja, jb] = (await Promise.all([a.json(), b.json()])) as { runId: string; existing: boolean }[];
    expect(ja.runId).toBe(`hello-${idempotencyKey}`);
    expect(jb.runId).toBe(ja.runId);
    await finished(ja.runId);

    const again = await call(ALL, 'POST', '/v1/pipelines/hello/runs', { idempotencyKey, params: { times: 1 } });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ runId: ja.runId, existing: true });

    const executions: string[] = [];
    for await (const w of mlpipe.client.workflow.list({ query: `WorkflowId = '${ja.runId}'` }))
      executions.push(w.runId);
    expect(executions).toHaveLength(1);
  });

  it('error bodies say why: 400, 404, 409, 413, 415 and 422 with every problem', async () => {
    const err = async (res: Response, status: number) => {
      expect(res.status).toBe(status);
      return ((await res.json()) as { error: { code: string; message: string; issues?: unknown[] } }).error;
    };
    expect(await err(await call(ALL, 'POST', '/v1/pipelines/no-such-pipeline/runs', {}), 404)).toEqual({
      code: 'pipeline_not_found',
      message: 'no pipeline named "no-such-pipeline"; GET /v1/pipelines lists them',
    });
    expect((await err(await call(ALL, 'GET', '/v1/runs/no-such-run-1'), 404)).code).toBe('run_not_found');
    expect((await err(await call(ALL, 'POST', '/v1/runs/no-such-run-1/cancel'), 404)).code).toBe('run_not_found');

    const bad = await err(
      await call(ALL, 'POST', '/v1/pipelines/hello/runs', { params: { times: 99, colour: 1 } }),
      422,
    );
    expect(bad.code).toBe('params_invalid');
    expect(bad.issues).toEqual([
      { path: ['params', 'colour'], message: 'param "colour": unknown param; known: who, times' },
      { path: ['params', 'times'], message: 'param "times": must be <= 10, got 99' },
    ]);

    const shape = await err(await call(ALL, 'POST', '/v1/pipelines/hello/runs', { idempotencyKey: 'a b', x: 1 }), 400);
    expect(shape.code).toBe('invalid_body');
    expect(shape.issues).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: ['body', 'idempotencyKey'] }), expect.anything()]),
    );
    expect((await err(await call(ALL, 'POST', '/v1/pipelines/hello/runs', '{"params":'), 400)).code).toBe(
      'invalid_json',
    );
    const path = await err(await call(ALL, 'GET', `/v1/runs/${encodeURIComponent('../etc')}`), 400);
    expect(path).toMatchObject({ code: 'invalid_path', issues: [{ path: ['path', 'id'] }] });
    const text = await call(ALL, 'POST', '/v1/pipelines/hello/runs', undefined, { 'content-type': 'text/plain' });
    expect(text.status).toBe(202); // no body at all: the params' defaults
    const plain = await app.request('/v1/pipelines/hello/runs', {
      method: 'POST',
      headers: { authorization: `Bearer ${ALL}`, 'content-type': 'text/plain' },
      body: '{"params": {}}',
    });
    expect((await err(plain, 415)).code).toBe('unsupported_media_type');

    const huge = { params: { who: 'x'.repeat(70 * 1024) } };
    expect(await err(await call(ALL, 'POST', '/v1/pipelines/hello/runs', huge), 413)).toEqual({
      code: 'payload_too_large',
      message: 'the request body is larger than 65536 bytes',
    });

    const { runId } = (await (
      await call(ALL, 'POST', '/v1/pipelines/hello/runs', { params: { times: 1 } })
    ).json()) as {
      runId: string;
    };
    await finished(runId);
    const ended = await err(await call(ALL, 'POST', `/v1/runs/${runId}/cancel`), 409);
    expect(ended).toEqual({
      code: 'run_ended',
      message: `run "${runId}" already ended (COMPLETED); nothing to cancel`,
    });
  });

  it('cancels a running run (202); it ends cancelled; a token for other pipelines gets 403', async () => {
    const res = await call(ALL, 'POST', '/v1/pipelines/api-slow/runs', {}, {}, inlineApp);
    expect(res.status).toBe(202);
    const { runId } = (await res.json()) as { runId: string };
    await until('the nap to start', async () => {
      const body = (await (await call(ALL, 'GET', `/v1/runs/${runId}`)).json()) as {
        status: { steps: { nap: { state: string } } } | null;
      };
      return body.status?.steps.nap.state === 'running' ? true : undefined;
    });
    expect((await call(HELLO_ONLY, 'GET', `/v1/runs/${runId}`)).status).toBe(403);
    expect((await call(HELLO_ONLY, 'POST', `/v1/runs/${runId}/cancel`)).status).toBe(403);

    const cancel = await call(ALL, 'POST', `/v1/runs/${runId}/cancel`);
    expect(cancel.status).toBe(202);
    expect(await cancel.json()).toEqual({ runId, cancelRequested: true });
    const done = await finished(runId);
    expect(done).toMatchObject({ temporal: { status: 'CANCELLED' }, status: { state: 'cancelled' } });
  });

  it('serves an OpenAPI 3.1 document whose components come from the zod schemas', async () => {
    const res = await app.request('/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, Record<string, any>>; securitySchemes: Record<string, unknown> };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/pipelines',
        '/v1/pipelines/{name}/runs',
        '/v1/runs/{id}',
        '/v1/runs/{id}/cancel',
        '/v1/hooks/minio',
      ]),
    );
    expect(Object.keys(doc.paths['/v1/pipelines/{name}/runs'].post.responses)).toEqual(
      expect.arrayContaining(['202', '200', '401', '403', '404', '413', '422']),
    );
    const start = doc.components.schemas.StartRunRequest;
    expect(start).toMatchObject({ type: 'object', additionalProperties: false });
    expect(start.properties.idempotencyKey).toMatchObject({ type: 'string', maxLength: 128 });
    expect(doc.components.schemas.Error.properties.error.properties.issues.items).toEqual({
      $ref: '#/components/schemas/Issue',
    });
    expect(doc.components.schemas.RunStatus.properties.state.enum).toContain('rollingBack');
    expect(doc.components.securitySchemes).toHaveProperty('apiToken');
    // Every $ref points at a component that exists.
    const refs = JSON.stringify(doc).match(/#\/components\/schemas\/[A-Za-z]+/g) ?? [];
    for (const r of new Set(refs)) expect(doc.components.schemas).toHaveProperty(r.split('/').pop()!);
  });

  it('runs list finds runs by pipeline and status through visibility, as a table or JSON', async () => {
    const { runId } = (await (
      await call(ALL, 'POST', '/v1/pipelines/hello/runs', { params: { times: 1 } })
    ).json()) as {
      runId: string;
    };
    await finished(runId);
    const found = await until('the run in visibility as succeeded', async () => {
      const runs = await listRuns(mlpipe.client, { pipeline: 'hello', status: 'succeeded', limit: 50 });
      return runs.find((r) => r.runId === runId);
    });
    expect(found).toMatchObject({
      pipeline: 'hello',
      status: 'succeeded',
      temporalStatus: 'COMPLETED',
      trigger: 'http',
    });
    const failed = await listRuns(mlpipe.client, { pipeline: 'hello', status: 'failed' });
    expect(failed.find((r) => r.runId === runId)).toBeUndefined();
    expect(await listRuns(mlpipe.client, { limit: 2 })).toHaveLength(2);
    expect(() => runsQuery({ pipeline: "x' OR 1=1" })).toThrow(/not a pipeline name/);

    // The command itself, as `mlpipe runs list --pipeline hello --status succeeded --json` runs it.
    const program = new Command('mlpipe').exitOverride();
    registerRunsListCommand(program);
    const out: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
    vi.stubEnv('TEMPORAL_ADDRESS', stack.temporalAddress);
    try {
      await program.parseAsync(['runs', 'list', '--pipeline', 'hello', '--status', 'succeeded', '--json'], {
        from: 'user',
      });
    } finally {
      write.mockRestore();
      vi.unstubAllEnvs();
    }
    const listed = JSON.parse(out.join('')) as RunSummary[];
    expect(listed.map((r) => r.runId)).toContain(runId);
    expect(listed.every((r) => r.pipeline === 'hello' && r.status === 'succeeded')).toBe(true);
  });

  it('the real server: a run started over a socket, OpenAPI and a 413 by Content-Length', async () => {
    const server = await startApiServer({ app, port: 0 });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const started = await fetch(`${server.url}/v1/pipelines/hello/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${HELLO_ONLY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ params: { who: 'socket', times: 1 } }),
      });
      expect(started.status).toBe(202);
      const { runId } = (await started.json()) as { runId: string };
      const run = await until('the run over http to end', async () => {
        const res = await fetch(`${server.url}/v1/runs/${runId}`, { headers: { authorization: `Bearer ${ALL}` } });
        const body = (await res.json()) as { status: { state: string; params: unknown } | null };
        return body.status?.state === 'succeeded' ? body : undefined;
      });
      expect(run.status?.params).toEqual({ who: 'socket', times: 1 });
      expect((await fetch(`${server.url}/openapi.json`)).status).toBe(200);
      const big = await fetch(`${server.url}/v1/pipelines/hello/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ALL}`, 'content-type': 'application/json' },
        body: JSON.stringify({ params: { who: 'y'.repeat(100 * 1024) } }),
      });
      expect(big.status).toBe(413);
      expect(((await big.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
    } finally {
      await server.close();
    }
  });

  it('startApiService (what `mlpipe api` and `mlpipe dev` run) serves the configured pipelines and tokens', async () => {
    const config = loadConfig({
      TEMPORAL_ADDRESS: stack.temporalAddress,
      MLPIPE_PIPELINE_PATH: dir,
      MLPIPE_API_TOKENS: `${HELLO_ONLY}:api-other`,
    });
    const lines: string[] = [];
    const api = await startApiService({ config, port: 0, log: (l) => lines.push(l) });
    try {
      const res = await fetch(`${api.server.url}/v1/pipelines`, { headers: { authorization: `Bearer ${HELLO_ONLY}` } });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { pipelines: { name: string }[] }).pipelines.map((p) => p.name)).toEqual([
        'api-other',
      ]);
      expect(api.pipelines.dirs[0]).toBe(dir);
      expect(lines).toEqual([expect.stringMatching(/^GET \/v1\/pipelines 200 \d+ms$/)]);
      expect(lines.join('\n')).not.toContain(HELLO_ONLY);
    } finally {
      await api.close();
    }
  });
});
