import fs from 'node:fs';
import path from 'node:path';
import { MlpipeClient, type RunHandle } from '../client/mlpipe-client';
import { formatIssues, loadDefinitionFile, resolveParams } from '../definitions/node';
import type { RunStatus, StepStatus } from '../workflows/types';
import { bold, cyan, dim, green, red, say, yellow } from './output';
import { EXIT } from './exit-codes';

/** `--param k=v` pairs; values stay strings here and are typed against the definition's params. */
export function parseParamFlags(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new Error(`--param expects key=value, got "${p}"`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

const looksLikeFile = (s: string) => /\.(ya?ml|json|ts|mts|js)$/.test(s) || s.includes(path.sep);

/** `mlpipe run <name|file>`: starts a run, optionally waits with a live step view. */
export async function runCommand(
  target: string,
  opts: { param: string[]; wait: boolean; json: boolean; idempotencyKey?: string },
): Promise<number> {
  let params: Record<string, unknown> = parseParamFlags(opts.param);
  let definition: unknown;
  let name = target;
  if (looksLikeFile(target)) {
    if (!fs.existsSync(target)) {
      say(red(`no such file: ${target}`));
      return EXIT.usage;
    }
    const loaded = await loadDefinitionFile(target);
    if (!loaded.ok) {
      say(red(`${target} is invalid:`));
      say(formatIssues(loaded.issues));
      return EXIT.failed;
    }
    const checked = resolveParams(loaded.definition!, params);
    if (!checked.ok) {
      say(red(`bad params for ${loaded.definition!.name}:`));
      for (const i of checked.issues) say(`  - ${i}`);
      return EXIT.usage;
    }
    params = checked.params;
    definition = loaded.definition;
    name = loaded.definition!.name;
  }
  const mlpipe = await MlpipeClient.connect();
  try {
    const run = await mlpipe.start(name, params, { definition, idempotencyKey: opts.idempotencyKey, trigger: 'cli' });
    if (!opts.wait) {
      if (opts.json) process.stdout.write(`${JSON.stringify({ runId: run.runId })}\n`);
      else process.stdout.write(`${run.runId}\n`);
      return EXIT.ok;
    }
    return await follow(run, opts.json);
  } finally {
    await mlpipe.close();
  }
}

/** Polls the run's status query and redraws the step table until the run ends. */
async function follow(run: RunHandle, json: boolean): Promise<number> {
  const live = process.stderr.isTTY && !json;
  let drawn = 0;
  let last = '';
  const draw = (s: RunStatus) => {
    const lines = renderStatus(s);
    const text = lines.join('\n');
    if (text === last) return;
    last = text;
    if (live && drawn) process.stderr.write(`\x1b[${drawn}A\x1b[J`);
    if (live || !json) say(text);
    drawn = lines.length;
  };
  if (!json) say(dim(`run ${run.runId}`));
  const result = run.result().then(
    () => 'ok' as const,
    (err: Error) => err,
  );
  for (;;) {
    const done = await Promise.race([result, new Promise((r) => setTimeout(r, 500, undefined))]);
    const status = await run.status().catch(() => undefined);
    if (status) draw(status);
    if (done !== undefined) {
      const final = status ?? (await run.status().catch(() => undefined));
      if (json) process.stdout.write(`${JSON.stringify(final ?? { runId: run.runId }, null, 2)}\n`);
      if (done === 'ok') {
        if (!json) say(green(`run ${run.runId} succeeded`));
        return EXIT.ok;
      }
      if (!json) say(red(`run ${run.runId} ${final?.state ?? 'failed'}: ${causeOf(done as Error)}`));
      return EXIT.failed;
    }
  }
}

function causeOf(err: Error): string {
  let e = err as Error & { cause?: Error };
  while (e.cause) e = e.cause as Error & { cause?: Error };
  return e.message;
}

const icons: Record<StepStatus['state'], string> = {
  pending: dim('·'),
  running: cyan('▶'),
  succeeded: green('✓'),
  cached: green('≡'),
  failed: red('✗'),
  skipped: dim('-'),
  rolledBack: yellow('↺'),
  cancelled: yellow('⊘'),
};

/** The step table shown by `run --wait` and `status`. */
export function renderStatus(s: RunStatus): string[] {
  const width = Math.max(4, ...Object.keys(s.steps).map((k) => k.length));
  const lines = [`${bold(s.pipeline)} ${dim(s.runId)}  ${s.state}`];
  for (const [id, st] of Object.entries(s.steps)) {
    const extra = [
      st.waitingFor === 'approval' ? yellow('waiting for approval') : '',
      st.items ? `${st.items.done}/${st.items.total} items` : '',
      st.attempts > 1 ? `attempt ${st.attempts}` : '',
      st.state === 'cached' ? 'cached' : '',
      st.error ? red(st.error.message.split('\n')[0].slice(0, 100)) : '',
      st.rollback ? `rollback ${st.rollback.state}` : '',
    ].filter(Boolean);
    lines.push(
      `  ${icons[st.state]} ${id.padEnd(width)}  ${dim(st.uses.padEnd(10))} ${st.state.padEnd(10)} ${extra.join('  ')}`,
    );
  }
  return lines;
}

export async function statusCommand(runId: string, opts: { json: boolean }): Promise<number> {
  const mlpipe = await MlpipeClient.connect();
  try {
    const status = await mlpipe.run(runId).status();
    if (opts.json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    else say(renderStatus(status).join('\n'));
    return status.state === 'failed' ? EXIT.failed : EXIT.ok;
  } finally {
    await mlpipe.close();
  }
}

export async function cancelCommand(runId: string, opts: { json?: boolean } = {}): Promise<number> {
  const mlpipe = await MlpipeClient.connect();
  try {
    await mlpipe.run(runId).cancel();
    if (opts.json) process.stdout.write(`${JSON.stringify({ runId, cancelRequested: true })}\n`);
    say(`cancel requested for ${runId}; completed steps will be rolled back`);
    return EXIT.ok;
  } finally {
    await mlpipe.close();
  }
}

export async function decideCommand(
  decision: 'approve' | 'reject',
  runId: string,
  step: string,
  opts: { comment?: string; by?: string; json?: boolean },
): Promise<number> {
  const mlpipe = await MlpipeClient.connect();
  try {
    const run = mlpipe.run(runId);
    const by = opts.by ?? process.env.USER ?? 'cli';
    if (decision === 'approve') await run.approve(step, { by, comment: opts.comment });
    else await run.reject(step, { by, comment: opts.comment });
    if (opts.json) process.stdout.write(`${JSON.stringify({ runId, step, decision, by })}\n`);
    say(`${decision === 'approve' ? 'approved' : 'rejected'} step ${step} of ${runId}`);
    return EXIT.ok;
  } finally {
    await mlpipe.close();
  }
}
