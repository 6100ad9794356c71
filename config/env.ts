import { z } from 'zod';

/**
 * Every environment variable mlpipe reads, in one zod schema. Entry points (`cli/`, `workers/`, `serving/`)
 * call {@link loadConfig} once and pass the result down; nothing else reads `process.env`.
 */
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const hostPort = z
  .string()
  .regex(/^[^\s:/]+:\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:7233')
  .refine((v) => Number(v.split(':')[1]) <= 65535, 'port must be ≤ 65535');

const port = z.coerce.number().int().min(0).max(65535);

/** One bearer token of the HTTP API and the pipelines it may start (`'*'` = every pipeline). */
export interface ApiTokenGrant {
  token: string;
  pipelines: '*' | string[];
}

const MIN_TOKEN_LENGTH = 16;
const TOKEN_PIPELINE = /^[a-zA-Z0-9][a-zA-Z0-9._-]*$/;

/** `token1:*,token2:flights-delay|hello`; messages name the entry by position, never by its (secret) text. */
const apiTokens = z.string().transform((text, ctx): ApiTokenGrant[] => {
  const grants: ApiTokenGrant[] = [];
  text.split(',').forEach((raw, i) => {
    const entry = raw.trim();
    const colon = entry.lastIndexOf(':');
    const where = `entry ${i + 1}`;
    if (colon <= 0) {
      ctx.addIssue({ code: 'custom', message: `${where}: expected token:pipelines, e.g. <token>:* or <token>:a|b` });
      return;
    }
    const token = entry.slice(0, colon);
    const scope = entry.slice(colon + 1).trim();
    const pipelines = scope.split('|').map((p) => p.trim());
    if (token.length < MIN_TOKEN_LENGTH || /[\s,]/.test(token)) {
      ctx.addIssue({
        code: 'custom',
        message: `${where}: a token is at least ${MIN_TOKEN_LENGTH} characters, no spaces`,
      });
    } else if (scope !== '*' && !pipelines.every((p) => TOKEN_PIPELINE.test(p))) {
      ctx.addIssue({ code: 'custom', message: `${where}: after ":" give * or pipeline names separated by "|"` });
    } else if (grants.some((g) => g.token === token)) {
      ctx.addIssue({ code: 'custom', message: `${where}: the same token is listed twice` });
    } else {
      grants.push({ token, pipelines: scope === '*' ? '*' : pipelines });
    }
  });
  return grants;
});

export const EnvSchema = z.object({
  /** Temporal frontend. Unset in `mlpipe dev` = start the embedded server. @default 127.0.0.1:7233 */
  TEMPORAL_ADDRESS: hostPort.optional(),
  /** @default default */
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** Use TLS to reach Temporal (implied by TEMPORAL_API_KEY or a client certificate). @default false */
  TEMPORAL_TLS: bool.default(false),
  TEMPORAL_TLS_CERT: z.string().optional(),
  TEMPORAL_TLS_KEY: z.string().optional(),
  TEMPORAL_TLS_CA: z.string().optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().optional(),
  /** Temporal Cloud API key; never logged. */
  TEMPORAL_API_KEY: z.string().optional(),
  /** S3 endpoint URL. Unset in `mlpipe dev` = start the embedded MinIO. @default http://127.0.0.1:9000 */
  MLPIPE_S3_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  /** @default mlpipe (dev only) */
  MLPIPE_S3_ACCESS_KEY: z.string().min(3).default('mlpipe'),
  /** @default mlpipe-dev-secret (dev only; set your own anywhere else) */
  MLPIPE_S3_SECRET_KEY: z.string().min(8).default('mlpipe-dev-secret'),
  /** @default mlpipe */
  MLPIPE_S3_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name (lowercase, 3-63 chars)')
    .default('mlpipe'),
  /** @default us-east-1 */
  MLPIPE_S3_REGION: z.string().default('us-east-1'),
  /** State of the embedded mode (Temporal DB, MinIO data, logs). @default .mlpipe */
  MLPIPE_HOME: z.string().min(1).default('.mlpipe'),
  /** Extra folders of pipeline definitions, separated by ':'; searched before the shipped ones. */
  MLPIPE_PIPELINE_PATH: z.string().optional(),
  /** Where built Go binaries are cached. @default ~/.cache/mlpipe */
  MLPIPE_CACHE_DIR: z.string().optional(),
  /** @default mlpipe */
  MLPIPE_TASK_QUEUE: z.string().min(1).default('mlpipe'),
  /** @default mlpipe-cpu */
  MLPIPE_CPU_QUEUE: z.string().min(1).default('mlpipe-cpu'),
  /** @default mlpipe-gpu */
  MLPIPE_GPU_QUEUE: z.string().min(1).default('mlpipe-gpu'),
  /** Let the GPU worker run GPU steps on a machine without GPUs. @default false */
  MLPIPE_GPU_CPU_FALLBACK: bool.default(false),
  /** @default 8233 */
  MLPIPE_UI_PORT: port.default(8233),
  /** @default 8080 */
  MLPIPE_SERVE_PORT: port.default(8080),
  /** How often `mlpipe serve` re-reads the registry aliases and the traffic config, in ms. @default 1000 */
  MLPIPE_SERVE_POLL_MS: z.coerce.number().int().min(50).max(600_000).default(1000),
  /** Largest inference request body in bytes (refused with 413 while streaming). @default 1048576 */
  MLPIPE_SERVE_MAX_BODY: z.coerce
    .number()
    .int()
    .min(1024)
    .max(1024 ** 3)
    .default(1024 * 1024),
  /** Most rows per inference request (and labels per feedback request). @default 1000 */
  MLPIPE_SERVE_MAX_ROWS: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  /** Bearer tokens of the HTTP API (`mlpipe api`) and what each may start: `tok1:*,tok2:flights-delay|hello`. */
  MLPIPE_API_TOKENS: apiTokens.optional(),
  /** Token MinIO sends (`Authorization: Bearer ...`) on bucket notifications to `POST /v1/hooks/minio`. */
  MLPIPE_WEBHOOK_TOKEN: z.string().min(MIN_TOKEN_LENGTH).regex(/^\S+$/, 'no spaces').optional(),
  /** @default info */
  MLPIPE_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

export type Env = z.infer<typeof EnvSchema>;

export interface MlpipeConfig {
  temporal: {
    /** Explicitly configured address; undefined means "embedded" for `mlpipe dev`. */
    address?: string;
    namespace: string;
    tls: boolean;
    tlsCert?: string;
    tlsKey?: string;
    tlsCa?: string;
    tlsServerName?: string;
    apiKey?: string;
  };
  s3: {
    endpoint?: string;
    accessKey: string;
    secretKey: string;
    bucket: string;
    region: string;
  };
  home: string;
  /** Extra pipeline folders (MLPIPE_PIPELINE_PATH). */
  pipelinePath: string[];
  cacheDir?: string;
  queues: { workflows: string; cpu: string; gpu: string };
  gpuCpuFallback: boolean;
  uiPort: number;
  servePort: number;
  /** `mlpipe serve`: poll interval, body and row limits. */
  serve: { pollMs: number; maxBodyBytes: number; maxRows: number };
  logLevel: Env['MLPIPE_LOG_LEVEL'];
  /** HTTP API credentials; never logged. */
  api: { tokens: ApiTokenGrant[]; webhookToken?: string };
}

export const DEFAULT_TEMPORAL_ADDRESS = '127.0.0.1:7233';
export const DEFAULT_S3_ENDPOINT = 'http://127.0.0.1:9000';

/** Thrown when the environment is invalid; `message` lists every bad variable with what is expected. */
export class ConfigInvalid extends Error {
  override readonly name = 'ConfigInvalid';
  constructor(readonly problems: string[]) {
    super(`invalid environment:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/**
 * Reads and validates the environment, reporting every bad variable at once.
 *
 * @example
 * const config = loadConfig(process.env);
 * console.log(config.queues.cpu); // 'mlpipe-cpu'
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): MlpipeConfig {
  const known = Object.fromEntries(Object.keys(EnvSchema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]));
  const parsed = EnvSchema.safeParse(known);
  if (!parsed.success) {
    // Never echo the received value: it may be a secret.
    const byVariable = new Map<string, string>();
    for (const i of parsed.error.issues) {
      const name = String(i.path[0]);
      if (!byVariable.has(name)) byVariable.set(name, `${name}: ${i.message}`);
    }
    throw new ConfigInvalid([...byVariable.values()]);
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (Boolean(e.TEMPORAL_TLS_CERT) !== Boolean(e.TEMPORAL_TLS_KEY)) {
    problems.push('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY: set both (client certificate and its key) or neither');
  }
  if (problems.length) throw new ConfigInvalid(problems);
  return {
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      tls: e.TEMPORAL_TLS || Boolean(e.TEMPORAL_API_KEY) || Boolean(e.TEMPORAL_TLS_CERT),
      tlsCert: e.TEMPORAL_TLS_CERT,
      tlsKey: e.TEMPORAL_TLS_KEY,
      tlsCa: e.TEMPORAL_TLS_CA,
      tlsServerName: e.TEMPORAL_TLS_SERVER_NAME,
      apiKey: e.TEMPORAL_API_KEY,
    },
    s3: {
      endpoint: e.MLPIPE_S3_ENDPOINT,
      accessKey: e.MLPIPE_S3_ACCESS_KEY,
      secretKey: e.MLPIPE_S3_SECRET_KEY,
      bucket: e.MLPIPE_S3_BUCKET,
      region: e.MLPIPE_S3_REGION,
    },
    home: e.MLPIPE_HOME,
    pipelinePath: (e.MLPIPE_PIPELINE_PATH ?? '').split(':').filter(Boolean),
    cacheDir: e.MLPIPE_CACHE_DIR,
    queues: { workflows: e.MLPIPE_TASK_QUEUE, cpu: e.MLPIPE_CPU_QUEUE, gpu: e.MLPIPE_GPU_QUEUE },
    gpuCpuFallback: e.MLPIPE_GPU_CPU_FALLBACK,
    uiPort: e.MLPIPE_UI_PORT,
    servePort: e.MLPIPE_SERVE_PORT,
    serve: { pollMs: e.MLPIPE_SERVE_POLL_MS, maxBodyBytes: e.MLPIPE_SERVE_MAX_BODY, maxRows: e.MLPIPE_SERVE_MAX_ROWS },
    logLevel: e.MLPIPE_LOG_LEVEL,
    api: { tokens: e.MLPIPE_API_TOKENS ?? [], webhookToken: e.MLPIPE_WEBHOOK_TOKEN },
  };
}

/** The names of every variable the config reads (docker-compose.yml is checked against this list). */
export const ENV_NAMES = Object.keys(EnvSchema.shape) as (keyof Env)[];
