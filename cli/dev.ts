import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { loadConfig, type MlpipeConfig } from '../config/env';
import { startEmbeddedStack, type EmbeddedStack } from './embedded-stack';
import { runWorkers, type RunningWorkers } from '../workers/run-workers';
import { bold, cyan, dim, green, red, say, yellow } from './output';
import { assertPortsFree } from './ports';
import { startApiService, type ApiService } from './api';
import { applyObjectCreatedNotifications, minioHookUrl, minioWebhookEnv } from '../triggers/minio-notifications';
import { createS3Client } from '../storage/s3-client';
import { S3ArtifactStore } from '../storage/artifact-store';
import { createModelRegistry } from '../storage/registry';
import { startServing, type ServingInstance } from '../serving';
import { MlpipeClient } from '../client/mlpipe-client';
import { runDemo } from './demo';

export interface DevOptions {
  temporalPort: number;
  temporalHttpPort: number;
  uiPort: number;
  minioPort: number;
  minioConsolePort: number;
  /** mlpipe's HTTP API (runs, MinIO new-data webhook). */
  apiPort: number;
  /** Model serving (OIP v2 + /v1 predict). */
  servePort: number;
  /** Do not start workers (only the services). */
  workers: boolean;
  /** Once everything is up, run the lifecycle demo on the flights data (`npm start`). */
  demo?: boolean;
}

/**
 * `mlpipe dev`: the whole stack on one machine. Builds what is missing, starts Temporal + UI (SQLite under
 * MLPIPE_HOME) and MinIO unless TEMPORAL_ADDRESS / MLPIPE_S3_ENDPOINT point elsewhere, runs the orchestrator,
 * CPU and GPU workers in this process on one connection, and stops everything on Ctrl-C.
 */
export async function runDev(opts: DevOptions, config: MlpipeConfig = loadConfig()): Promise<number> {
  const home = path.resolve(config.home);
  say(bold('mlpipe dev') + dim(`  state in ${home}`));
  let stack: EmbeddedStack | undefined;
  let running: RunningWorkers | undefined;
  let api: ApiService | undefined;
  let serving: ServingInstance | undefined;
  let demoClient: MlpipeClient | undefined;
  const demoAbort = new AbortController();
  let stopping = false;

  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    demoAbort.abort();
    await demoClient?.close().catch(() => {});
    await serving?.close();
    await api?.close();
    say(dim('stopping workers (in-flight tasks finish or go back to the queue)...'));
    await running?.shutdown();
    say(dim('stopping services...'));
    await stack?.stop();
    say(code === 0 ? green('stopped.') : red('stopped after an error.'));
    process.exit(code);
  };
  process.once('SIGINT', () => void stopAll(0));
  process.once('SIGTERM', () => void stopAll(0));

  try {
    await assertPortsFree([
      { host: '127.0.0.1', port: opts.apiPort, what: 'mlpipe API', change: '--api-port' },
      { host: '127.0.0.1', port: opts.servePort, what: 'model serving', change: '--serve-port' },
    ]);
    // New objects in the embedded MinIO reach the API's webhook, which starts pipelines declaring `on.objectCreated`.
    const webhookToken = config.api.webhookToken ?? randomBytes(24).toString('base64url');
    stack = await startEmbeddedStack({
      home,
      cacheDir: config.cacheDir,
      temporal: config.temporal.address
        ? false
        : {
            port: opts.temporalPort,
            httpPort: opts.temporalHttpPort,
            uiPort: opts.uiPort,
            dbFile: path.join(home, 'temporal.db'),
            namespace: config.temporal.namespace,
          },
      minio: config.s3.endpoint
        ? false
        : {
            port: opts.minioPort,
            consolePort: opts.minioConsolePort,
            dataDir: path.join(home, 'minio'),
            accessKey: config.s3.accessKey,
            secretKey: config.s3.secretKey,
            bucket: config.s3.bucket,
            region: config.s3.region,
            env: minioWebhookEnv({
              endpoint: minioHookUrl('127.0.0.1', opts.apiPort),
              authToken: webhookToken,
              queueDir: path.join(home, 'minio-events'),
            }),
          },
      onProgress: (line) => say(yellow(line)),
    });
    const address = config.temporal.address ?? stack.temporalAddress!;
    const s3 = config.s3.endpoint ?? stack.s3Endpoint!;
    const uiUrl = stack.uiUrl;

    if (opts.workers) {
      say(yellow('GPU worker: CPU fallback is on in mlpipe dev (GPU steps run on the CPU when no GPU is found)'));
      running = await runWorkers({
        config,
        address,
        s3Endpoint: s3,
        roles: ['orchestrator', 'cpu', 'gpu'],
        gpuCpuFallback: true,
        log: (m) => say(dim(m)),
      });
    }

    api = await startApiService({ config, address, port: opts.apiPort, webhookToken, log: (l) => say(dim(l)) });
    if (stack.s3Endpoint) {
      await applyObjectCreatedNotifications(createS3Client({ ...config.s3, endpoint: s3 }), api.pipelines, {
        region: config.s3.region,
      });
    }

    const s3Client = createS3Client({ ...config.s3, endpoint: s3 });
    const registry = createModelRegistry({ client: s3Client, bucket: config.s3.bucket, endpoint: s3 });
    serving = await startServing({
      store: new S3ArtifactStore(s3Client, config.s3.bucket, s3),
      registry,
      port: opts.servePort,
      host: '127.0.0.1',
    });

    say('');
    say(`  ${bold('Temporal')}     ${address}${config.temporal.address ? dim(' (external)') : ''}`);
    if (uiUrl) say(`  ${bold('Temporal UI')}  ${cyan(uiUrl)}`);
    say(`  ${bold('MinIO (S3)')}   ${s3}  bucket ${config.s3.bucket}${config.s3.endpoint ? dim(' (external)') : ''}`);
    if (stack.s3Endpoint) say(`  ${bold('MinIO health')} ${s3}/minio/health/live`);
    say(
      `  ${bold('mlpipe API')}   ${api.server.url}${config.api.tokens.length ? '' : dim(' (set MLPIPE_API_TOKENS to use /v1)')}`,
    );
    say(
      `  ${bold('Serving')}      ${serving.url}  ${dim('(OIP v2 /v2/models/<name>/infer, /v1/models/<name>/predict, /metrics)')}`,
    );
    if (running) {
      const q = config.queues;
      say(`  ${bold('Workers')}      orchestrator (${q.workflows}), cpu (${q.cpu}), gpu (${q.gpu})`);
    }
    say('');
    say(green('ready.') + dim(' Ctrl-C stops everything.'));
    if (opts.demo) {
      demoClient = await MlpipeClient.connect({ address, config });
      void runDemo({
        mlpipe: demoClient,
        registry,
        servingUrl: serving.url,
        uiUrl,
        signal: demoAbort.signal,
      }).catch((err: Error) => {
        if (!stopping) say(red(`demo: ${err.message}`));
      });
    }

    const crashed = await Promise.race([
      stack.unexpectedExit.then((e) => `${e.name} exited unexpectedly (code ${e.code ?? e.signal}):\n${e.tail}`),
      running?.done.then(
        () => (stopping ? undefined : 'the workers stopped'),
        (err: Error) => `a worker failed: ${err.message}`,
      ) ?? new Promise<never>(() => {}),
    ]);
    if (crashed && !stopping) {
      say(red(crashed));
      await stopAll(1);
    }
    return 0;
  } catch (err) {
    say(red((err as Error).message));
    await stopAll(1);
    return 1;
  }
}
