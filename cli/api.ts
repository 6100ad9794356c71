import { Command, InvalidArgumentError } from 'commander';
import { MlpipeClient } from '../client/mlpipe-client';
import { DEFAULT_TEMPORAL_ADDRESS, loadConfig, type MlpipeConfig } from '../config/env';
import { defaultPipelineDirs } from '../definitions/load';
import { createApiApp } from '../api/app';
import { createPipelineCatalog, type PipelineCatalog } from '../api/pipeline-catalog';
import { DEFAULT_API_PORT, startApiServer, type ApiServer } from '../api/server';
import { MINIO_HOOK_PATH } from '../triggers/minio-notifications';
import { PortInUse } from './ports';
import { EXIT } from './exit-codes';
import { bold, cyan, dim, red, say, yellow } from './output';

export interface ApiServiceOptions {
  config: MlpipeConfig;
  /** Temporal frontend; `mlpipe dev` passes the embedded one. @default config.temporal.address or 127.0.0.1:7233 */
  address?: string;
  /** @default 8090 */
  port?: number;
  /** @default 127.0.0.1 */
  host?: string;
  /** Token of the MinIO hook; `mlpipe dev` may generate one. @default config.api.webhookToken */
  webhookToken?: string;
  /** Send the validated definition with each run (workers without the pipeline files). @default false */
  inlineDefinitions?: boolean;
  log?: (line: string) => void;
}

export interface ApiService {
  server: ApiServer;
  /** The pipelines served (also what `applyObjectCreatedNotifications` reads). */
  pipelines: PipelineCatalog;
  close(): Promise<void>;
}

/**
 * Connects to Temporal and serves the HTTP API (runs, pipelines, MinIO hook) on a port. `mlpipe api` runs it alone;
 * `mlpipe dev` can run it beside the workers.
 *
 * @example
 * const api = await startApiService({ config, address: stack.temporalAddress, port: 8090, webhookToken });
 * // ... later
 * await api.close();
 */
export async function startApiService(opts: ApiServiceOptions): Promise<ApiService> {
  const { config } = opts;
  const mlpipe = await MlpipeClient.connect({ config, address: opts.address });
  const pipelines = createPipelineCatalog({ dirs: [...config.pipelinePath, ...defaultPipelineDirs()] });
  try {
    const app = createApiApp({
      mlpipe,
      pipelines,
      tokens: config.api.tokens,
      webhookToken: opts.webhookToken ?? config.api.webhookToken,
      inlineDefinitions: opts.inlineDefinitions,
      log: opts.log,
    });
    const server = await startApiServer({ app, port: opts.port, host: opts.host });
    return {
      server,
      pipelines,
      close: async () => {
        await server.close();
        await mlpipe.close();
      },
    };
  } catch (err) {
    await mlpipe.close();
    throw err;
  }
}

const portArg = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('--port must be a port number');
  return n;
};

/** `mlpipe api`: serves until SIGINT/SIGTERM; exit 2 without any token or with the port taken, 3 without Temporal. */
export async function runApiCommand(
  opts: { port: number; host: string; sendDefinitions?: boolean },
  config: MlpipeConfig = loadConfig(),
): Promise<number> {
  const { tokens, webhookToken } = config.api;
  if (!tokens.length && !webhookToken) {
    say(red('no credentials: set MLPIPE_API_TOKENS (e.g. <token>:* or <token>:hello|flights-delay)'));
    say(dim('and/or MLPIPE_WEBHOOK_TOKEN for MinIO bucket notifications; tokens are at least 16 characters'));
    return EXIT.usage;
  }
  let api: ApiService;
  try {
    api = await startApiService({
      config,
      port: opts.port,
      host: opts.host,
      inlineDefinitions: opts.sendDefinitions,
      log:
        config.logLevel === 'debug' || config.logLevel === 'trace' || config.logLevel === 'info'
          ? (l) => say(dim(l))
          : undefined,
    });
  } catch (err) {
    if (err instanceof PortInUse) {
      say(red(err.message));
      return EXIT.usage;
    }
    const address = config.temporal.address ?? DEFAULT_TEMPORAL_ADDRESS;
    say(red(`cannot reach Temporal at ${address}: ${(err as Error).message} (set TEMPORAL_ADDRESS?)`));
    return EXIT.unavailable;
  }
  const { url } = api.server;
  say(`${bold('mlpipe API')}  ${cyan(url)}  ${dim(`(OpenAPI: ${url}/openapi.json)`)}`);
  say(`  tokens       ${tokens.length} configured${tokens.length ? '' : yellow(' (only the MinIO hook is served)')}`);
  say(`  MinIO hook   ${webhookToken ? `${url}${MINIO_HOOK_PATH}` : dim('off (set MLPIPE_WEBHOOK_TOKEN)')}`);
  say(`  pipelines    ${api.pipelines.dirs.join(', ')}`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  say(dim('stopping the API (open requests finish)...'));
  await api.close();
  return EXIT.ok;
}

/**
 * Adds `mlpipe api [--port 8090] [--host 127.0.0.1] [--send-definitions]` to the program.
 *
 * @example
 * registerApiCommands(program); // in buildProgram()
 */
export function registerApiCommands(program: Command): void {
  program
    .command('api')
    .description('HTTP API: start, follow and cancel runs from any language; MinIO notifications start pipelines')
    .option('--port <port>', 'port to listen on', portArg, DEFAULT_API_PORT)
    .option('--host <host>', 'address to listen on (0.0.0.0 for every interface)', '127.0.0.1')
    .option('--send-definitions', 'send the validated definition with each run (workers without the files)', false)
    .addHelpText(
      'after',
      `
Environment: MLPIPE_API_TOKENS (token:pipelines, e.g. "$TOKEN:*" or "$TOKEN:hello|flights-delay"),
MLPIPE_WEBHOOK_TOKEN (MinIO's auth_token for POST /v1/hooks/minio), TEMPORAL_ADDRESS, MLPIPE_PIPELINE_PATH.

Examples:
  $ MLPIPE_API_TOKENS="$(openssl rand -hex 24):*" mlpipe api --port 8090
  $ curl -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \\
      -d '{"params": {"who": "curl"}}' http://127.0.0.1:8090/v1/pipelines/hello/runs`,
    )
    .action(async (o: { port: number; host: string; sendDefinitions: boolean }) => {
      process.exitCode = await runApiCommand(o);
    });
}
