import fs from 'node:fs';
import path from 'node:path';
import { ensureBinaries } from './binaries';
import { ManagedProcess } from './processes';
import { assertPortsFree, type PortClaim } from './ports';
import { createS3Client, ensureBucket } from '../storage/s3-client';

export interface EmbeddedTemporalOptions {
  port: number;
  uiPort: number;
  httpPort: number;
  /** SQLite file; `null` = in-memory (tests). */
  dbFile: string | null;
  namespace: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

export interface EmbeddedMinioOptions {
  port: number;
  consolePort: number;
  dataDir: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region: string;
  /** Extra environment for MinIO (e.g. its bucket-notification webhook target). */
  env?: Record<string, string>;
}

export interface EmbeddedStackOptions {
  /** Logs of the children go to `<home>/logs`. */
  home: string;
  /** @default 127.0.0.1 */
  host?: string;
  /** `false` = an external Temporal is used; nothing is built or started. */
  temporal: EmbeddedTemporalOptions | false;
  /** `false` = an external S3 is used; nothing is built or started. */
  minio: EmbeddedMinioOptions | false;
  cacheDir?: string;
  onProgress?: (line: string) => void;
}

export interface EmbeddedStack {
  temporalAddress?: string;
  uiUrl?: string;
  s3Endpoint?: string;
  temporal?: ManagedProcess;
  minio?: ManagedProcess;
  /** Settles with the first child that exits while the stack is meant to be running. */
  unexpectedExit: Promise<{ name: string; code: number | null; signal: NodeJS.Signals | null; tail: string }>;
  stop(): Promise<void>;
}

/**
 * Starts one MinIO server, waits until it is healthy and creates the bucket. The embedded stack uses it; so do tests
 * and benchmarks that need a MinIO of their own (one they can stop).
 *
 * @example
 * const { proc, endpoint } = await startMinio(bin, { port, consolePort, dataDir, accessKey, secretKey, bucket, region, logFile });
 */
export async function startMinio(
  bin: string,
  m: EmbeddedMinioOptions & {
    /** @default 127.0.0.1 */
    host?: string;
    logFile: string;
    /** Serve the web console. @default false */
    browser?: boolean;
    /** Called as soon as the process exists (before it is healthy), so a caller can stop it on failure. */
    onSpawn?: (proc: ManagedProcess) => void;
  },
): Promise<{ proc: ManagedProcess; endpoint: string }> {
  const host = m.host ?? '127.0.0.1';
  fs.mkdirSync(m.dataDir, { recursive: true });
  const proc = new ManagedProcess({
    name: 'minio',
    command: bin,
    args: ['server', m.dataDir, '--address', `${host}:${m.port}`, '--console-address', `${host}:${m.consolePort}`],
    env: {
      ...process.env,
      MINIO_ROOT_USER: m.accessKey,
      MINIO_ROOT_PASSWORD: m.secretKey,
      MINIO_BROWSER: m.browser ? 'on' : 'off',
      MINIO_UPDATE: 'off',
      MINIO_CALLHOME_ENABLE: 'off',
      ...m.env,
    },
    logFile: m.logFile,
  });
  m.onSpawn?.(proc);
  const endpoint = `http://${host}:${m.port}`;
  await proc.waitReady(async () => (await fetch(`${endpoint}/minio/health/live`)).ok, 60_000);
  await ensureBucket(
    createS3Client({ endpoint, accessKey: m.accessKey, secretKey: m.secretKey, region: m.region }),
    m.bucket,
    m.region,
  );
  return { proc, endpoint };
}

/** Starts the embedded Temporal server + UI (devserver/) and MinIO, each only when asked for. */
export async function startEmbeddedStack(opts: EmbeddedStackOptions): Promise<EmbeddedStack> {
  const host = opts.host ?? '127.0.0.1';
  const logs = path.join(opts.home, 'logs');
  fs.mkdirSync(logs, { recursive: true });

  const claims: PortClaim[] = [];
  if (opts.temporal) {
    claims.push(
      { host, port: opts.temporal.port, what: 'Temporal frontend', change: '--temporal-port' },
      { host, port: opts.temporal.uiPort, what: 'Temporal Web UI', change: '--ui-port or MLPIPE_UI_PORT' },
      { host, port: opts.temporal.httpPort, what: 'Temporal HTTP API', change: '--temporal-http-port' },
    );
  }
  if (opts.minio) {
    claims.push(
      { host, port: opts.minio.port, what: 'MinIO S3 API', change: '--minio-port' },
      { host, port: opts.minio.consolePort, what: 'MinIO console', change: '--minio-console-port' },
    );
  }
  await assertPortsFree(claims);

  const bins = await ensureBinaries(
    { devserver: Boolean(opts.temporal), minio: Boolean(opts.minio) },
    { cacheDir: opts.cacheDir, onProgress: opts.onProgress },
  );

  const started: { name: string; proc: ManagedProcess }[] = [];
  const stack: EmbeddedStack = {
    unexpectedExit: new Promise(() => {}),
    stop: async () => {
      // Reverse start order; each child gets its own grace period.
      for (const { proc } of started.reverse()) await proc.stop();
    },
  };

  try {
    if (opts.temporal) {
      const t = opts.temporal;
      const proc = new ManagedProcess({
        name: 'temporal',
        command: bins.devserver!,
        args: [
          '--ip',
          host,
          '--port',
          String(t.port),
          '--http-port',
          String(t.httpPort),
          '--ui-port',
          String(t.uiPort),
          '--namespace',
          t.namespace,
          '--log-level',
          t.logLevel ?? 'warn',
          '--db-filename',
          t.dbFile ?? '',
        ],
        logFile: path.join(logs, 'temporal.log'),
      });
      started.push({ name: 'temporal', proc });
      await proc.waitForLine(/"ready":\s*true/, 120_000);
      stack.temporal = proc;
      stack.temporalAddress = `${host}:${t.port}`;
      stack.uiUrl = t.uiPort ? `http://${host}:${t.uiPort}` : undefined;
    }
    if (opts.minio) {
      const { proc, endpoint } = await startMinio(bins.minio!, {
        ...opts.minio,
        host,
        logFile: path.join(logs, 'minio.log'),
        browser: true,
        onSpawn: (p) => started.push({ name: 'minio', proc: p }),
      });
      stack.minio = proc;
      stack.s3Endpoint = endpoint;
    }
  } catch (err) {
    await stack.stop();
    throw err;
  }

  stack.unexpectedExit = Promise.race(
    started.map(({ name, proc }) =>
      proc.exited.then(async ({ code, signal }) => {
        if (proc.isStopping) return new Promise<never>(() => {});
        return { name, code, signal, tail: proc.tail() };
      }),
    ),
  );
  return stack;
}
