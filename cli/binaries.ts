import { spawn } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../config/project-root';

export interface Binaries {
  devserver?: string;
  minio?: string;
}

/** Thrown when a Go binary cannot be built; the message says what is needed or how to do without it. */
export class BinaryBuildFailed extends Error {
  override readonly name = 'BinaryBuildFailed';
}

const SCRIPT = path.join(projectRoot(), 'scripts', 'ensure-binaries.sh');

/**
 * Builds (once, cached outside git) the Go binaries the embedded stack needs and returns their paths.
 * The shell script is the single source of truth, also used by `.ci/run`; its progress lines go to stderr.
 */
export function ensureBinaries(
  which: { devserver: boolean; minio: boolean },
  opts: { cacheDir?: string; onProgress?: (line: string) => void } = {},
): Promise<Binaries> {
  const args: string[] = [];
  if (which.devserver && !which.minio) args.push('--devserver-only');
  if (which.minio && !which.devserver) args.push('--minio-only');
  if (!which.devserver && !which.minio) return Promise.resolve({});
  const env = { ...process.env, ...(opts.cacheDir ? { MLPIPE_CACHE_DIR: opts.cacheDir } : {}) };
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SCRIPT, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      for (const line of d.toString().split('\n')) if (line.trim()) opts.onProgress?.(line);
    });
    child.once('error', (err) => reject(new BinaryBuildFailed(`cannot run ${SCRIPT}: ${err.message}`)));
    child.once('exit', (code) => {
      if (code !== 0) {
        const tail = stderr.trim().split('\n').slice(-15).join('\n');
        reject(
          new BinaryBuildFailed(
            `building the embedded stack's Go binaries failed (exit ${code}):\n${tail}\n` +
              'Go 1.23+ is needed to build them; or point TEMPORAL_ADDRESS and MLPIPE_S3_ENDPOINT at an existing ' +
              'Temporal server and S3 store, and nothing is built.',
          ),
        );
        return;
      }
      const out: Binaries = {};
      for (const line of stdout.split('\n')) {
        const m = /^(devserver|minio)=(.+)$/.exec(line.trim());
        if (m) out[m[1] as keyof Binaries] = m[2];
      }
      resolve(out);
    });
  });
}
