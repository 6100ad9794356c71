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
      const m = opts.minio;
      fs.mkdirSync(m.dataDir, { recursive: true });
      const proc = new ManagedProcess({
        name: 'minio',
        command: bins.minio!,
        args: ['server', m.dataDir, '--address', `${host}:${m.port}`, '--console-address', `${host}:${m.consolePort}`],
        env: {
          ...process.env,
          MINIO_ROOT_USER: m.accessKey,
          MINIO_ROOT_PASSWORD: m.secretKey,
          MINIO_BROWSER: 'on',
          MINIO_UPDATE: 'off',
          MINIO_CALLHOME_ENABLE: 'off',
          ...m.env,
        },
        logFile: path.join(logs, 'minio.log'),
      });
      started.push({ name: 'minio', proc });
      const endpoint = `http://${host}:${m.port}`;
      await proc.waitReady(async () => (await fetch(`${endpoint}/minio/health/live`)).ok, 60_000);
      await ensureBucket(
        createS3Client({ endpoint, accessKey: m.accessKey, secretKey: m.secretKey, region: m.region }),
        m.bucket,
        m.region,
      );
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
