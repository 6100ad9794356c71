import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedStack } from '../cli/embedded-stack';
import { getFreePort } from '../cli/ports';
import { ManagedProcess } from '../cli/processes';

/** What every integration test gets through `inject(...)`: an isolated, real stack on free ports. */
export interface TestStack {
  temporalAddress: string;
  uiUrl: string;
  s3Endpoint: string;
  s3AccessKey: string;
  s3SecretKey: string;
  bucket: string;
  home: string;
  /** Env for child processes (CLI, extra workers) pointing at this stack. */
  env: Record<string, string>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    stack: TestStack;
  }
}

/**
 * Starts Temporal (in-memory SQLite) + UI, MinIO in a temporary folder, and one worker process serving all three
 * queues; tears everything down after the run.
 */
export default async function setup(project: TestProject) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mlpipe-test-'));
  const ports = {
    temporal: await getFreePort(),
    http: await getFreePort(),
    ui: await getFreePort(),
    minio: await getFreePort(),
    console: await getFreePort(),
  };
  const creds = { accessKey: 'mlpipe-test', secretKey: 'mlpipe-test-secret', bucket: 'mlpipe', region: 'us-east-1' };
  const stack = await startEmbeddedStack({
    home,
    temporal: { port: ports.temporal, httpPort: ports.http, uiPort: ports.ui, dbFile: null, namespace: 'default' },
    minio: { port: ports.minio, consolePort: ports.console, dataDir: path.join(home, 'minio'), ...creds },
    onProgress: (l) => console.error(l),
  });
  const env: Record<string, string> = {
    TEMPORAL_ADDRESS: stack.temporalAddress!,
    TEMPORAL_NAMESPACE: 'default',
    MLPIPE_S3_ENDPOINT: stack.s3Endpoint!,
    MLPIPE_S3_ACCESS_KEY: creds.accessKey,
    MLPIPE_S3_SECRET_KEY: creds.secretKey,
    MLPIPE_S3_BUCKET: creds.bucket,
    MLPIPE_HOME: home,
    MLPIPE_FROM_SOURCE: '1',
    MLPIPE_LOG_LEVEL: 'warn',
  };
  const worker = new ManagedProcess({
    name: 'worker',
    command: process.execPath,
    args: [path.join(__dirname, '..', 'bin', 'mlpipe.js'), 'worker', '--role', 'all', '--cpu-fallback'],
    env: { ...process.env, ...env },
    logFile: path.join(home, 'logs', 'worker.log'),
  });
  try {
    await worker.waitForLine(/worker \S+ polling/, 120_000);
  } catch (err) {
    await worker.stop();
    await stack.stop();
    throw err;
  }

  project.provide('stack', {
    temporalAddress: stack.temporalAddress!,
    uiUrl: stack.uiUrl!,
    s3Endpoint: stack.s3Endpoint!,
    s3AccessKey: creds.accessKey,
    s3SecretKey: creds.secretKey,
    bucket: creds.bucket,
    home,
    env,
  });

  return async () => {
    await worker.stop();
    await stack.stop();
    if (!process.env.MLPIPE_KEEP_TEST_HOME) fs.rmSync(home, { recursive: true, force: true });
  };
}
