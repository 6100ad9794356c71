import { z } from 'zod';
import { apiSchemas, MAX_BODY_BYTES, PipelineNameSchema, RunIdSchema } from './schemas';

/**
 * The OpenAPI 3.1 document of the HTTP API. Every body and response schema is generated from the zod schemas the
 * routes validate with (`schemas.ts`, through `z.toJSONSchema`); only the routing (paths, statuses) is written here.
 */

type Json = Record<string, unknown>;

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const json = (id: string, description: string) => ({
  description,
  content: { 'application/json': { schema: ref(id) } },
});
const error = (description: string) => json('Error', description);

/** A JSON Schema of one zod schema, inline (no `$schema` key). */
function inline(schema: z.ZodType): Json {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input' }) as Json;
  return rest;
}

function components(): Json {
  const generated = z.toJSONSchema(apiSchemas, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  }).schemas as Record<string, Json>;
  // `$id`/`$schema` belong to standalone documents, not to components.
  return Object.fromEntries(
    Object.entries(generated).map(([id, { $schema: _s, $id: _i, ...rest }]) => [id, rest] as const),
  );
}

const pathParam = (name: string, schema: z.ZodType, description: string) => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: inline(schema),
});

const bearer = [{ apiToken: [] }];
const common = {
  '401': error('No token, or not a valid one (`WWW-Authenticate: Bearer`)'),
  '503': error('Temporal cannot be reached; try again'),
};

/**
 * Builds the document served at `GET /openapi.json`.
 *
 * @example
 * fs.writeFileSync('openapi.json', JSON.stringify(buildOpenApiDocument(), null, 2));
 */
export function buildOpenApiDocument(): Json {
  const name = pathParam('name', PipelineNameSchema, 'Pipeline name');
  const id = pathParam('id', RunIdSchema, 'Run id (the workflow id)');
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'mlpipe API',
      version: '1',
      description:
        'Start pipeline runs from any language, follow and cancel them. Every error body is ' +
        '`{ "error": { "code", "message", "issues"? } }`. Bodies over ' +
        `${MAX_BODY_BYTES} bytes are refused with 413.`,
    },
    servers: [{ url: 'http://127.0.0.1:8090' }],
    security: bearer,
    paths: {
      '/v1/pipelines': {
        get: {
          operationId: 'listPipelines',
          summary: 'The pipelines this token may start: names, descriptions, params, triggers',
          responses: { '200': json('PipelineList', 'The pipelines'), ...common },
        },
      },
      '/v1/pipelines/{name}/runs': {
        post: {
          operationId: 'startRun',
          summary: 'Start a run; params are checked against the definition before anything starts',
          parameters: [name],
          requestBody: { required: false, content: { 'application/json': { schema: ref('StartRunRequest') } } },
          responses: {
            '202': json('StartRunResponse', 'Started'),
            '200': json('StartRunResponse', 'The idempotency key had started this run already (`existing: true`)'),
            '400': error('Malformed JSON, or a body or path that does not fit the schema (every issue listed)'),
            ...common,
            '403': error('This token may not start this pipeline'),
            '404': error('No pipeline with this name'),
            '413': error('Body too large'),
            '415': error('The body is not JSON'),
            '422': error('The params do not fit the pipeline (every problem listed)'),
          },
        },
      },
      '/v1/runs/{id}': {
        get: {
          operationId: 'getRun',
          summary: "A run's status (per-step state) and Temporal's view of it",
          parameters: [id],
          responses: {
            '200': json('Run', 'The run'),
            ...common,
            '403': error("This token may not see this run's pipeline"),
            '404': error('No run with this id'),
          },
        },
      },
      '/v1/runs/{id}/cancel': {
        post: {
          operationId: 'cancelRun',
          summary: 'Cancel a run: in-flight steps stop, completed steps are rolled back in reverse order',
          parameters: [id],
          responses: {
            '202': json('CancelRunResponse', 'Cancellation requested'),
            ...common,
            '403': error("This token may not cancel this run's pipeline"),
            '404': error('No run with this id'),
            '409': error('The run already ended'),
          },
        },
      },
      '/v1/hooks/minio': {
        post: {
          operationId: 'minioNotification',
          summary:
            'MinIO bucket notifications (webhook target): new objects start the pipelines whose on.objectCreated matches',
          security: [{ webhookToken: [] }],
          requestBody: { required: true, content: { 'application/json': { schema: ref('MinioEvent') } } },
          responses: {
            '200': json('HookResponse', 'What the event started'),
            '400': error('Not a bucket notification'),
            '401': error('No token, or not MLPIPE_WEBHOOK_TOKEN'),
            '413': error('Body too large'),
            '503': error('The hook is off (no MLPIPE_WEBHOOK_TOKEN) or Temporal cannot be reached; MinIO retries'),
          },
        },
      },
      '/healthz': {
        get: {
          operationId: 'health',
          summary: 'Liveness: the process serves requests (says nothing about Temporal)',
          security: [],
          responses: { '200': { description: '`{ "ok": true }`' } },
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'openapi',
          summary: 'This document',
          security: [],
          responses: { '200': { description: 'OpenAPI 3.1' } },
        },
      },
    },
    components: {
      schemas: components(),
      securitySchemes: {
        apiToken: { type: 'http', scheme: 'bearer', description: 'A token of MLPIPE_API_TOKENS' },
        webhookToken: { type: 'http', scheme: 'bearer', description: 'MLPIPE_WEBHOOK_TOKEN (MinIO auth_token)' },
      },
    },
  };
}
