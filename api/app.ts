import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { validator } from 'hono/validator';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { z } from 'zod';
import type { ApiTokenGrant } from '../config/env';
import type { MlpipeClient } from '../client/mlpipe-client';
import { resolveParams } from '../definitions/params';
import type { DefinitionIssue } from '../definitions/issues';
import type { PipelineCatalog } from './pipeline-catalog';
import { bearerToken, findGrant, grantAllows, secretsEqual } from './auth';
import { buildOpenApiDocument } from './openapi';
import { createdObjects, runExists, startObjectCreatedRuns } from '../triggers/object-created';
import { MINIO_HOOK_PATH } from '../triggers/minio-notifications';
import {
  MAX_BODY_BYTES,
  MAX_HOOK_BODY_BYTES,
  MinioEventSchema,
  PipelinePathSchema,
  RunPathSchema,
  StartRunRequestSchema,
  type ApiIssue,
  type ErrorResponse,
  type HookResponse,
  type PipelineSummary,
  type RunResponse,
  type StartRunResponse,
} from './schemas';

/** What the HTTP API needs; the CLI wires the real ones in, tests may wire their own. */
export interface ApiDeps {
  /** Starts and follows runs: an {@link MlpipeClient} (only `start` and `run` are used). */
  mlpipe: Pick<MlpipeClient, 'start' | 'run'>;
  /** The pipelines that can be started by name, listed and watched by `on.objectCreated`. */
  pipelines: PipelineCatalog;
  /** Bearer tokens and what each may start (`MLPIPE_API_TOKENS`). None: every `/v1` route answers 401. */
  tokens: readonly ApiTokenGrant[];
  /** Token of `POST /v1/hooks/minio` (`MLPIPE_WEBHOOK_TOKEN`). Unset: the hook answers 503. */
  webhookToken?: string;
  /**
   * Send the definition the API validated with each run, instead of its name (for folders the workers do not
   * search). @default false
   */
  inlineDefinitions?: boolean;
  /** Largest request body of the `/v1` routes. @default 64 KiB */
  maxBodyBytes?: number;
  /** How long `GET /v1/runs/{id}` waits for the `status` query. @default 5000 */
  statusQueryTimeoutMs?: number;
  /** One line per request (method, path, status, ms) and per started run; never headers or bodies. */
  log?: (line: string) => void;
}

/** An error response: the status, a stable `code`, a message saying why and what to do, and every issue. */
export class ApiError extends HTTPException {
  constructor(
    status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly issues?: ApiIssue[],
  ) {
    super(status, { message });
  }
}

type Env = { Variables: { grant: ApiTokenGrant } };

const JSON_MEDIA = /^application\/([\w.-]+\+)?json$/i;
const WWW_AUTHENTICATE = { 'WWW-Authenticate': 'Bearer realm="mlpipe"' };

const codeOf: Partial<Record<number, string>> = {
  400: 'bad_request',
  401: 'unauthorized',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
};

const errorBody = (code: string, message: string, issues?: ApiIssue[]): ErrorResponse => ({
  error: { code, message, ...(issues?.length ? { issues } : {}) },
});

const zodIssues = (error: z.ZodError, root: string): ApiIssue[] =>
  error.issues.map((i) => ({
    path: [root, ...i.path.map((p) => (typeof p === 'symbol' ? String(p) : p))],
    message: i.message,
  }));

/** Validates a route's path params with a zod schema: 400 with every issue. */
const params = <T extends z.ZodType>(schema: T) =>
  validator('param', (value) => {
    const r = schema.safeParse(value);
    if (!r.success) throw new ApiError(400, 'invalid_path', 'invalid path parameter', zodIssues(r.error, 'path'));
    return r.data as z.output<T>;
  });

/**
 * Validates a JSON body with a zod schema: 415 for a body that is not JSON, 400 for malformed JSON or a body that
 * does not fit (every issue). No body at all counts as `{}`.
 */
const jsonBody = <T extends z.ZodType>(schema: T) =>
  validator('json', (value, c) => {
    const media = (c.req.header('content-type') ?? '').split(';')[0].trim();
    if (!JSON_MEDIA.test(media) && c.req.raw.body !== null) {
      throw new ApiError(415, 'unsupported_media_type', 'send the body as JSON (Content-Type: application/json)');
    }
    const r = schema.safeParse(value);
    if (!r.success) throw new ApiError(400, 'invalid_body', 'the request body is invalid', zodIssues(r.error, 'body'));
    return r.data as z.output<T>;
  });

const limit = (maxSize: number): MiddlewareHandler =>
  bodyLimit({
    maxSize,
    onError: () => {
      throw new ApiError(413, 'payload_too_large', `the request body is larger than ${maxSize} bytes`);
    },
  });

/** `DefinitionIssue`s (file:line) as API issues. */
const definitionIssues = (issues: DefinitionIssue[]): ApiIssue[] =>
  issues.map((i) => ({
    path: i.path.map((p) => (typeof p === 'number' ? p : String(p))),
    message: `${i.file ?? ''}${i.line !== undefined ? `:${i.line}:${i.column ?? 1}` : ''} ${i.message}`.trim(),
  }));

/** `param "x": ...` → `['params', 'x']` */
const paramIssue = (message: string): ApiIssue => {
  const m = /^param "([^"]+)"/.exec(message);
  return { path: m ? ['params', m[1]] : ['params'], message };
};

/** Temporal errors that mean "try again later" (server down, overloaded, deadline). */
function isUnavailable(err: unknown): boolean {
  const e = err as { name?: string; code?: number; cause?: unknown };
  if (e?.name === 'ServiceError' || e?.name === 'TransportError') return true;
  if (typeof e?.code === 'number' && [4, 8, 14].includes(e.code)) return true; // DEADLINE, RESOURCE, UNAVAILABLE
  return e?.cause !== undefined && e.cause !== err && isUnavailable(e.cause);
}

/**
 * The HTTP API of mlpipe: start pipeline runs from services in any language, follow and cancel them, list the
 * pipelines, and receive MinIO bucket notifications (`on.objectCreated`). `GET /openapi.json` describes it all.
 *
 * @example
 * const mlpipe = await MlpipeClient.connect();
 * const app = createApiApp({ mlpipe, pipelines: createPipelineCatalog({ dirs }), tokens: config.api.tokens });
 * const res = await app.request('/v1/pipelines/hello/runs', {
 *   method: 'POST',
 *   headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
 *   body: JSON.stringify({ params: { who: 'you' } }),
 * }); // 202 { runId, existing: false }
 */
export function createApiApp(deps: ApiDeps): Hono<Env> {
  const app = new Hono<Env>();
  const maxBody = deps.maxBodyBytes ?? MAX_BODY_BYTES;

  app.onError((err, c) => {
    if (err instanceof ApiError) {
      const headers = err.status === 401 ? WWW_AUTHENTICATE : undefined;
      return c.json(errorBody(err.code, err.message, err.issues), err.status, headers);
    }
    if (err instanceof HTTPException) {
      const status = err.status as ContentfulStatusCode;
      // Hono's JSON validator says "Malformed JSON in request body".
      const code = status === 400 && /malformed json/i.test(err.message) ? 'invalid_json' : codeOf[status];
      return c.json(errorBody(code ?? 'http_error', err.message || 'request refused'), status);
    }
    if (isUnavailable(err)) {
      deps.log?.(`temporal unavailable: ${(err as Error).message}`);
      return c.json(errorBody('temporal_unavailable', 'Temporal cannot be reached; try again shortly'), 503);
    }
    deps.log?.(`internal error on ${c.req.method} ${c.req.path}: ${(err as Error)?.stack ?? String(err)}`);
    return c.json(errorBody('internal', 'internal error; the server log has the details'), 500);
  });
  app.notFound((c) => c.json(errorBody('not_found', `no route ${c.req.method} ${c.req.path}; see /openapi.json`), 404));

  if (deps.log) {
    const log = deps.log;
    app.use(async (c, next) => {
      const t0 = performance.now();
      await next();
      log(`${c.req.method} ${c.req.path} ${c.res.status} ${Math.round(performance.now() - t0)}ms`);
    });
  }

  /** Any configured token; sets `grant`. */
  const auth: MiddlewareHandler<Env> = async (c, next) => {
    const header = c.req.header('authorization');
    const grant = findGrant(deps.tokens, bearerToken(header));
    if (!grant) {
      throw new ApiError(
        401,
        'unauthorized',
        header ? 'the bearer token is not valid' : 'send Authorization: Bearer <token> (one of MLPIPE_API_TOKENS)',
      );
    }
    c.set('grant', grant);
    await next();
  };

  const allow = (c: Context<Env>, pipeline: string | undefined, action: string) => {
    if (!grantAllows(c.get('grant'), pipeline)) {
      throw new ApiError(403, 'forbidden', `this token may not ${action} pipeline "${pipeline ?? '(none)'}"`);
    }
  };

  /** Temporal's view of a run, 404 when there is none, 403 when the token may not see its pipeline. */
  const describeRun = async (c: Context<Env>, runId: string) => {
    let d;
    try {
      d = await deps.mlpipe.run(runId).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new ApiError(404, 'run_not_found', `no run with id "${runId}"`);
      throw err;
    }
    if (d.type !== 'pipeline') throw new ApiError(404, 'run_not_found', `"${runId}" is not a pipeline run`);
    const pipeline = (d.searchAttributes?.MlpipePipeline as string[] | undefined)?.[0];
    allow(c, pipeline, 'see runs of');
    return { d, pipeline };
  };

  let openapi: ReturnType<typeof buildOpenApiDocument> | undefined;
  app.get('/openapi.json', (c) => c.json((openapi ??= buildOpenApiDocument())));
  app.get('/healthz', (c) => c.json({ ok: true }));

  app.get('/v1/pipelines', auth, async (c) => {
    const grant = c.get('grant');
    const pipelines: PipelineSummary[] = [];
    for (const { name, result } of await deps.pipelines.list()) {
      if (!grantAllows(grant, name)) continue;
      const def = result.definition;
      pipelines.push({
        name,
        ...(def?.description !== undefined ? { description: def.description } : {}),
        params: def?.params ?? {},
        ...(def?.on !== undefined ? { on: def.on } : {}),
        valid: result.ok,
        ...(result.ok ? {} : { issues: definitionIssues(result.issues) }),
      });
    }
    return c.json({ pipelines });
  });

  app.post(
    '/v1/pipelines/:name/runs',
    auth,
    limit(maxBody),
    params(PipelinePathSchema),
    jsonBody(StartRunRequestSchema),
    async (c) => {
      const { name } = c.req.valid('param');
      allow(c, name, 'start');
      const body = c.req.valid('json');
      const found = await deps.pipelines.find(name);
      if (!found)
        throw new ApiError(404, 'pipeline_not_found', `no pipeline named "${name}"; GET /v1/pipelines lists them`);
      if (!found.result.ok) {
        throw new ApiError(
          500,
          'definition_invalid',
          `pipeline "${name}" is invalid and cannot run; fix ${found.file}`,
          definitionIssues(found.result.issues),
        );
      }
      const resolved = resolveParams(found.result.definition!, body.params ?? {});
      if (!resolved.ok) {
        const n = resolved.issues.length;
        throw new ApiError(
          422,
          'params_invalid',
          `${n} problem${n > 1 ? 's' : ''} with the params of "${name}"`,
          resolved.issues.map(paramIssue),
        );
      }
      const runId = body.idempotencyKey ? `${name}-${body.idempotencyKey}` : undefined;
      if (runId && (await runExists(deps.mlpipe, runId))) {
        return c.json({ runId, existing: true } satisfies StartRunResponse, 200);
      }
      const run = await deps.mlpipe.start(name, resolved.params, {
        runId,
        idempotencyKey: body.idempotencyKey,
        definition: deps.inlineDefinitions ? found.result.definition : undefined,
        trigger: 'http',
      });
      deps.log?.(`started ${run.runId}`);
      return c.json({ runId: run.runId, existing: false } satisfies StartRunResponse, 202);
    },
  );

  app.get('/v1/runs/:id', auth, params(RunPathSchema), async (c) => {
    const { id } = c.req.valid('param');
    const { d, pipeline } = await describeRun(c, id);
    const timeoutMs = deps.statusQueryTimeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    const status = await Promise.race([
      deps.mlpipe.run(id).status(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${timeoutMs} ms (is a worker running?)`)),
          timeoutMs,
        );
      }),
    ]).then(
      (s) => ({ status: s }),
      (err: Error) => ({ status: null, statusError: err.message.split('\n')[0] }),
    );
    clearTimeout(timer);
    const body: RunResponse = {
      runId: id,
      pipeline: pipeline ?? null,
      temporal: {
        status: d.status.name,
        executionRunId: d.runId,
        workflowType: d.type,
        startTime: d.startTime.toISOString(),
        closeTime: d.closeTime?.toISOString() ?? null,
        historyLength: d.historyLength,
      },
      ...status,
    };
    return c.json(body);
  });

  app.post('/v1/runs/:id/cancel', auth, limit(maxBody), params(RunPathSchema), async (c) => {
    const { id } = c.req.valid('param');
    const { d } = await describeRun(c, id);
    if (d.status.name !== 'RUNNING') {
      throw new ApiError(409, 'run_ended', `run "${id}" already ended (${d.status.name}); nothing to cancel`);
    }
    await deps.mlpipe.run(id).cancel();
    deps.log?.(`cancel requested for ${id}`);
    return c.json({ runId: id, cancelRequested: true as const }, 202);
  });

  app.post(
    MINIO_HOOK_PATH,
    async (c, next) => {
      if (!deps.webhookToken) {
        throw new ApiError(503, 'hook_disabled', 'the MinIO hook is off: set MLPIPE_WEBHOOK_TOKEN');
      }
      const token = bearerToken(c.req.header('authorization'));
      if (token === undefined || !secretsEqual(token, deps.webhookToken)) {
        throw new ApiError(401, 'unauthorized', 'send Authorization: Bearer <MLPIPE_WEBHOOK_TOKEN>');
      }
      await next();
    },
    limit(Math.max(maxBody, MAX_HOOK_BODY_BYTES)),
    jsonBody(MinioEventSchema),
    async (c) => {
      const { objects, ignored } = createdObjects(c.req.valid('json'));
      const result = await startObjectCreatedRuns(deps, objects);
      return c.json({ ...result, ignored } satisfies HookResponse);
    },
  );

  return app;
}
