import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_S3_ENDPOINT, loadConfig, type MlpipeConfig } from '../config/env';
import { startServing, stderrLogger, type ServingInstance } from '../serving';
import { S3ArtifactStore } from '../storage/artifact-store';
import { createModelRegistry, MODEL_NAME_PATTERN } from '../storage/registry';
import { createS3Client } from '../storage/s3-client';
import { EXIT } from './exit-codes';
import { bold, cyan, dim, red, say } from './output';
import { PortInUse } from './ports';

const portArg = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('--port must be a port number');
  return n;
};

const modelsArg = (v: string) => {
  const names = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = names.find((n) => !MODEL_NAME_PATTERN.test(n));
  if (!names.length || bad !== undefined) {
    throw new InvalidArgumentError(
      `--models takes model names separated by commas${bad ? `; "${bad}" is not one` : ''}`,
    );
  }
  return names;
};

/**
 * `mlpipe serve`: serves the models' production versions until SIGINT/SIGTERM; exit 2 when the port is taken.
 * The object store may be down at start: the instance comes up, reports not ready, and loads once it is back.
 */
export async function runServeCommand(
  opts: { port: number; host: string; models?: string[]; advertiseUrl?: string },
  config: MlpipeConfig = loadConfig(),
): Promise<number> {
  const endpoint = config.s3.endpoint ?? DEFAULT_S3_ENDPOINT;
  const client = createS3Client({ ...config.s3, endpoint });
  const store = new S3ArtifactStore(client, config.s3.bucket, endpoint);
  const registry = createModelRegistry({ client, bucket: config.s3.bucket, store, endpoint });
  let serving: ServingInstance;
  try {
    serving = await startServing({
      store,
      registry,
      port: opts.port,
      host: opts.host,
      models: opts.models,
      advertiseUrl: opts.advertiseUrl,
      pollMs: config.serve.pollMs,
      maxBodyBytes: config.serve.maxBodyBytes,
      maxRows: config.serve.maxRows,
      logger: config.logLevel === 'silent' ? { info() {}, warn() {}, error() {} } : stderrLogger(),
    });
  } catch (err) {
    if (err instanceof PortInUse) {
      say(red(err.message));
      return EXIT.usage;
    }
    throw err;
  }
  const { url } = serving;
  const models = serving.report().models;
  say(`${bold('mlpipe serving')}  ${cyan(url)}  ${dim(`instance ${serving.instanceId}`)}`);
  say(
    `  models       ${
      Object.entries(models)
        .map(([name, m]) => `${name} v${m.production?.version ?? '?'}`)
        .join(', ') || dim(opts.models ? 'none loaded yet' : 'none with a production alias yet')
    }`,
  );
  say(`  predict      POST ${url}/v1/models/{name}/predict   (OIP v2: ${url}/v2/models/{name}/infer)`);
  say(`  metrics      ${url}/metrics`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  say(dim('stopping (requests in flight finish, logs are flushed)...'));
  await serving.close();
  return EXIT.ok;
}

/**
 * Adds `mlpipe serve [--port 8080] [--host 127.0.0.1] [--models a,b]` to the program.
 *
 * @example
 * registerServeCommand(program); // in buildProgram()
 */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description("serve models' production versions over HTTP (Open Inference Protocol v2 + /v1 predict)")
    .option('--port <port>', 'port to listen on (MLPIPE_SERVE_PORT)', portArg)
    .option('--host <host>', 'address to listen on (0.0.0.0 for every interface)', '127.0.0.1')
    .option('--models <names>', 'serve only these models (comma-separated); default: every production alias', modelsArg)
    .option('--advertise-url <url>', 'URL the control plane reaches this instance at (default: http://host:port)')
    .addHelpText(
      'after',
      `
Environment: MLPIPE_S3_* (the registry's bucket), MLPIPE_SERVE_PORT, MLPIPE_SERVE_POLL_MS, MLPIPE_SERVE_MAX_BODY,
MLPIPE_SERVE_MAX_ROWS.

Examples:
  $ mlpipe serve
  $ mlpipe serve --port 8081 --models flights-delay
  $ curl -H 'content-type: application/json' http://127.0.0.1:8080/v1/models/flights-delay/predict \\
      -d '{"instances": [{"date": "2001-02-03T08:15:00", "distance": 1200, "origin": "SFO", "destination": "LAX"}]}'`,
    )
    .action(async (o: { port?: number; host: string; models?: string[]; advertiseUrl?: string }) => {
      const config = loadConfig();
      process.exitCode = await runServeCommand({ ...o, port: o.port ?? config.servePort }, config);
    });
}
