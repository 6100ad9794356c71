import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManagedProcess } from '../cli/processes';
import { getFreePort } from '../cli/ports';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlpipe-dev-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** `mlpipe dev` as a user runs it, on free ports, with its own MLPIPE_HOME. */
async function startDev(name: string) {
  const ports = {
    temporal: await getFreePort(),
    http: await getFreePort(),
    ui: await getFreePort(),
    minio: await getFreePort(),
    console: await getFreePort(),
    api: await getFreePort(),
    serve: await getFreePort(),
  };
  const home = path.join(tmp, name);
  const env: NodeJS.ProcessEnv = { ...process.env, MLPIPE_HOME: home, MLPIPE_FROM_SOURCE: '1', NO_COLOR: '1' };
  for (const k of ['TEMPORAL_ADDRESS', 'MLPIPE_S3_ENDPOINT', 'MLPIPE_UI_PORT', 'MLPIPE_SERVE_PORT']) delete env[k];
  const dev = new ManagedProcess({
    name: 'mlpipe dev',
    command: process.execPath,
    args: [
      path.join(__dirname, '..', 'bin', 'mlpipe.js'),
      'dev',
      '--temporal-port',
      String(ports.temporal),
      '--temporal-http-port',
      String(ports.http),
      '--ui-port',
      String(ports.ui),
      '--minio-port',
      String(ports.minio),
      '--minio-console-port',
      String(ports.console),
      '--api-port',
      String(ports.api),
      '--serve-port',
      String(ports.serve),
    ],
    env,
  });
  await dev.waitForLine(/^ready\./, 120_000);
  return { dev, ports, home };
}

const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: '127.0.0.1', port }, () => s.close(() => resolve(true)));
  });

const children = (pid: number) => {
  try {
    return execFileSync('pgrep', ['-P', String(pid)])
      .toString()
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
};

describe('mlpipe dev', () => {
  it('serves the UI and MinIO, persists under MLPIPE_HOME, and Ctrl-C stops every child and frees the ports', async () => {
    const { dev, ports, home } = await startDev('clean');
    try {
      expect((await fetch(`http://127.0.0.1:${ports.ui}/`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${ports.minio}/minio/health/live`)).status).toBe(200);
      expect(fs.existsSync(path.join(home, 'temporal.db'))).toBe(true);
      expect(dev.tail(30)).toContain(`Temporal UI  http://127.0.0.1:${ports.ui}`);
      expect((await fetch(`http://127.0.0.1:${ports.serve}/v2/health/live`)).status).toBe(200);
      const kids = children(dev.pid!);
      expect(kids.length).toBe(2); // devserver + minio

      dev.child.kill('SIGINT');
      const { code } = await dev.exited;
      expect(code).toBe(0);
      for (const pid of kids) expect(() => process.kill(pid, 0), `child ${pid} still alive`).toThrow();
      for (const p of Object.values(ports)) expect(await portFree(p), `port ${p}`).toBe(true);
    } finally {
      await dev.stop();
    }
  });

  it('reports a dying Temporal server and stops the whole stack instead of hanging', async () => {
    const { dev, ports } = await startDev('crash');
    try {
      const [devserver] = children(dev.pid!).filter((pid) =>
        fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('devserver'),
      );
      process.kill(devserver, 'SIGKILL');
      const { code } = await dev.exited;
      expect(code).toBe(1);
      expect(dev.tail(40)).toMatch(/temporal exited unexpectedly/);
      expect(await portFree(ports.minio)).toBe(true);
    } finally {
      await dev.stop();
    }
  });
});
