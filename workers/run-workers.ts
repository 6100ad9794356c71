import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import type { MlpipeConfig } from '../config/env';
import { temporalConnectionOptions } from '../client/connection';
import { createWorkers, type WorkerRole } from './create-workers';
import { defaultPipelineDirs } from '../definitions/node';
import { S3ArtifactStore } from '../storage/artifact-store';
import { createS3Client } from '../storage/s3-client';
import { createModelRegistry } from '../storage/registry';
import { DEFAULT_S3_ENDPOINT } from '../config/env';
import { codeVersion } from './version';
import { formatLogEntry } from './log-line';

let runtimeInstalled = false;

/** Installs the Temporal runtime once per process; signals are handled by our entry points, not the SDK. */
export function installRuntime(level: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' = 'WARN'): void {
  if (runtimeInstalled) return;
  const logger = new DefaultLogger(level, (entry) => void process.stderr.write(formatLogEntry(entry)));
  Runtime.install({ logger, shutdownSignals: [] });
  runtimeInstalled = true;
}

export interface RunningWorkers {
  workers: Worker[];
  connection: NativeConnection;
  /** Settles when every worker has stopped (rejects if one fails). */
  done: Promise<void>;
  /** Graceful: stop polling, let in-flight tasks finish (or hand them back after the grace time), close. */
  shutdown(): Promise<void>;
}

/** Connects once and runs the workers of the given roles on that connection. */
export async function runWorkers(opts: {
  config: MlpipeConfig;
  address: string;
  /** S3 endpoint (the embedded MinIO or MLPIPE_S3_ENDPOINT). */
  s3Endpoint?: string;
  roles: readonly WorkerRole[];
  gpuCpuFallback: boolean;
  log?: (msg: string) => void;
}): Promise<RunningWorkers> {
  installRuntime(opts.config.logLevel === 'debug' || opts.config.logLevel === 'trace' ? 'DEBUG' : 'WARN');
  const endpoint = opts.s3Endpoint ?? opts.config.s3.endpoint ?? DEFAULT_S3_ENDPOINT;
  const s3 = createS3Client({ ...opts.config.s3, endpoint });
  const connection = await NativeConnection.connect(temporalConnectionOptions(opts.config.temporal, opts.address));
  let workers: Worker[];
  try {
    workers = await createWorkers({
      connection,
      namespace: opts.config.temporal.namespace,
      queues: opts.config.queues,
      roles: opts.roles,
      gpuCpuFallback: opts.gpuCpuFallback,
      log: opts.log,
      deps: {
        store: new S3ArtifactStore(s3, opts.config.s3.bucket, endpoint),
        registry: createModelRegistry({ client: s3, bucket: opts.config.s3.bucket, endpoint }),
        pipelineDirs: [...opts.config.pipelinePath, ...defaultPipelineDirs()],
        codeVersion,
      },
    });
  } catch (err) {
    await connection.close();
    throw err;
  }
  const done = Promise.all(workers.map((w) => w.run())).then(() => undefined);
  let closing: Promise<void> | undefined;
  const shutdown = () =>
    (closing ??= (async () => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await done.catch(() => {});
      await connection.close();
    })());
  return { workers, connection, done, shutdown };
}
