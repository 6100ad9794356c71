import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { parseDuration } from '../../definitions/duration';
import type { StepContext, StepHandler } from './types';

export interface CommandInput {
  /** argv: the program and its arguments; no shell unless you run one. */
  run: string[];
  env?: Record<string, string>;
  cwd?: string;
  timeout?: string | number;
}

/** Variables of the worker that a user program never sees. */
const WITHHELD_ENV = /^(TEMPORAL_API_KEY|TEMPORAL_TLS_KEY|TEMPORAL_TLS_CERT)$/;
const TAIL_BYTES = 4096;
/** util-linux's setpriv gives the program a parent-death signal: a worker killed with -9 takes its command along. */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => fs.existsSync(p));
const KILL_GRACE_MS = 5000;

/**
 * `command`: runs any program (a trainer in Python, a shell script...). Non-zero exit fails the step; the JSON the
 * program writes to $MLPIPE_OUTPUTS becomes the step outputs; stdout+stderr are kept as an artifact. On a GPU
 * worker it holds one GPU slot and sees only that GPU through CUDA_VISIBLE_DEVICES.
 */
export const command: StepHandler = async (input: CommandInput, ctx) => {
  if (!Array.isArray(input.run) || input.run.length === 0 || input.run.some((a) => typeof a !== 'string')) {
    throw ApplicationFailure.create({
      type: 'StepInputInvalid',
      message: `step "${ctx.task.stepId}": with.run must be a non-empty list of strings (argv)`,
      nonRetryable: true,
    });
  }
  if (ctx.gpuSlots) return ctx.gpuSlots.with((cuda) => runCommand(input, ctx, cuda));
  return runCommand(input, ctx, undefined);
};

async function runCommand(input: CommandInput, ctx: StepContext, cudaVisibleDevices: string | undefined) {
  const work = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'mlpipe-cmd-'));
  const outputsFile = path.join(work, 'outputs.json');
  const logFile = path.join(work, 'output.log');
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !WITHHELD_ENV.test(k)));
  Object.assign(env, input.env ?? {}, {
    MLPIPE_RUN_ID: ctx.task.runId,
    MLPIPE_PIPELINE: ctx.task.pipeline,
    MLPIPE_STEP: ctx.task.stepId,
    MLPIPE_ATTEMPT: String(ctx.attempt),
    MLPIPE_OUTPUTS: outputsFile,
    ...(ctx.task.index !== undefined ? { MLPIPE_ITEM_INDEX: String(ctx.task.index) } : {}),
    ...(cudaVisibleDevices !== undefined ? { CUDA_VISIBLE_DEVICES: cudaVisibleDevices } : {}),
  });

  const log = fs.createWriteStream(logFile);
  let tail = '';
  const [program, ...args] = input.run;
  // A process group of its own, so cancel and timeout kill the whole tree, not only the direct child.
  const [cmd, argv] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'KILL', '--', program, ...args]] : [program, args];
  const child = spawn(cmd, argv, { cwd: input.cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const onData = (d: Buffer) => {
    log.write(d);
    tail = (tail + d.toString()).slice(-TAIL_BYTES);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);

  let killedFor: 'cancel' | 'timeout' | undefined;
  const killTree = (why: 'cancel' | 'timeout') => {
    if (child.exitCode !== null || killedFor) return;
    killedFor = why;
    const kill = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        // already gone
      }
    };
    kill('SIGTERM');
    setTimeout(() => kill('SIGKILL'), KILL_GRACE_MS).unref();
  };
  const onAbort = () => killTree('cancel');
  ctx.signal.addEventListener('abort', onAbort);
  const timeoutMs = input.timeout !== undefined ? parseDuration(input.timeout) : undefined;
  const timer = timeoutMs ? setTimeout(() => killTree('timeout'), timeoutMs) : undefined;
  const beat = setInterval(() => ctx.heartbeat({ pid: child.pid }), 1000);
  ctx.heartbeat({ pid: child.pid });

  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  clearInterval(beat);
  if (timer) clearTimeout(timer);
  ctx.signal.removeEventListener('abort', onAbort);
  await new Promise<void>((r) => log.end(r));

  const logs = await ctx.store.putFile(`${ctx.artifactPrefix}/output.log`, logFile, { contentType: 'text/plain' });
  let outputs: Record<string, unknown> = {};
  try {
    const raw = await fs.promises.readFile(outputsFile, 'utf8').catch(() => '');
    if (raw.trim()) {
      try {
        outputs = JSON.parse(raw) as Record<string, unknown>;
      } catch (err) {
        throw ApplicationFailure.create({
          type: 'StepOutputInvalid',
          message: `step "${ctx.task.stepId}": $MLPIPE_OUTPUTS is not valid JSON (${(err as Error).message})`,
          nonRetryable: true,
        });
      }
      if (typeof outputs !== 'object' || outputs === null || Array.isArray(outputs)) {
        throw ApplicationFailure.create({
          type: 'StepOutputInvalid',
          message: `step "${ctx.task.stepId}": $MLPIPE_OUTPUTS must hold a JSON object`,
          nonRetryable: true,
        });
      }
    }
  } finally {
    await fs.promises.rm(work, { recursive: true, force: true });
  }

  const shown = input.run.join(' ');
  if (killedFor === 'cancel') throw ctx.signal.reason ?? new Error('cancelled');
  if (killedFor === 'timeout') {
    throw ApplicationFailure.create({
      type: 'CommandTimedOut',
      message: `command \`${shown}\` ran past its timeout of ${input.timeout} and was killed; logs: ${logs.uri}`,
    });
  }
  if (exit.error) {
    throw ApplicationFailure.create({
      type: 'CommandFailed',
      message: `command \`${shown}\` could not start: ${exit.error.message}`,
      nonRetryable: (exit.error as NodeJS.ErrnoException).code === 'ENOENT',
    });
  }
  if (exit.code === 127 && SETPRIV && /setpriv: failed to execute/.test(tail)) {
    throw ApplicationFailure.create({
      type: 'CommandFailed',
      message: `command \`${shown}\` could not start: ${program} not found or not executable`,
      nonRetryable: true,
    });
  }
  if (exit.code !== 0) {
    throw ApplicationFailure.create({
      type: 'CommandFailed',
      message:
        `command \`${shown}\` exited with ${exit.code !== null ? `code ${exit.code}` : `signal ${exit.signal}`}; ` +
        `logs: ${logs.uri}\n${tail.trim().split('\n').slice(-10).join('\n')}`,
    });
  }
  return {
    exitCode: 0,
    logs: logs.uri,
    ...(cudaVisibleDevices !== undefined ? { cudaVisibleDevices } : {}),
    ...outputs,
  };
}
