/**
 * The Python side of `npm run bench:train`: a virtual environment with LightGBM and scikit-learn
 * under the mlpipe cache, and one child process per Python training run (bench/python/train.py).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TrainerReport } from './train-worker';

const REQUIREMENTS = join(__dirname, 'python', 'requirements.txt');
const TRAIN_SCRIPT = join(__dirname, 'python', 'train.py');

/** Python of the bench venv (`<cacheDir>/bench-venv`), created and filled with pip when it lacks a package. */
export function ensureBenchVenv(cacheDir: string, log: (line: string) => void): string {
  const venv = join(cacheDir, 'bench-venv');
  const python = join(venv, 'bin', 'python');
  const importsOk = (): boolean =>
    existsSync(python) &&
    spawnSync(python, ['-c', 'import lightgbm, sklearn, pyarrow, numpy'], { stdio: 'ignore' }).status === 0;
  if (importsOk()) return python;
  if (!existsSync(python)) {
    log(`creating ${venv}`);
    execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
  }
  log(`pip install -r ${REQUIREMENTS}`);
  execFileSync(python, ['-m', 'pip', 'install', '--quiet', '--upgrade', 'pip'], { stdio: 'inherit' });
  execFileSync(python, ['-m', 'pip', 'install', '--quiet', '-r', REQUIREMENTS], { stdio: 'inherit' });
  if (!importsOk()) throw new Error(`${python} still cannot import lightgbm, sklearn, pyarrow and numpy`);
  return python;
}

export interface PythonRunOptions {
  library: 'lightgbm' | 'sklearn';
  data: string;
  trainRows: number;
  params: object;
  threads: number;
  predictions: string;
}

/** Runs one Python training in a child process and returns its report. */
export function runPythonTrainer(python: string, o: PythonRunOptions): TrainerReport {
  const threads = String(o.threads);
  const out = execFileSync(
    python,
    [
      TRAIN_SCRIPT,
      ['--library', o.library],
      ['--data', o.data],
      ['--train-rows', String(o.trainRows)],
      ['--params', JSON.stringify(o.params)],
      ['--threads', threads],
      ['--predictions', o.predictions],
    ].flat(),
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      // OpenMP (both libraries) and any BLAS underneath: no more threads than asked for.
      env: { ...process.env, OMP_NUM_THREADS: threads, OPENBLAS_NUM_THREADS: threads, MKL_NUM_THREADS: threads },
      maxBuffer: 1 << 20,
    },
  );
  return JSON.parse(out.trim().split('\n').pop()!) as TrainerReport;
}
