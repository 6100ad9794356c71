import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Client, Connection, WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RunStatus } from '../workflows/types';
import { testClient, uniqueId } from './helpers';

// `mlpipe approve|reject|cancel` as a user (or a script, with --json) runs them against a real run.
let client: Client;
let connection: Connection;

beforeAll(async () => ({ client, connection } = await testClient()));
afterAll(async () => connection?.close());

/** Runs the CLI from source against the test stack; resolves with its exit code and output. */
async function mlpipe(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'mlpipe.js'), ...args], {
    env: { ...process.env, ...inject('stack').env, MLPIPE_FROM_SOURCE: '1', NO_COLOR: '1' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}

/** A run waiting at approval step `gate`, then echoing. */
async function startGated(): Promise<WorkflowHandle> {
  const handle = await client.workflow.start('pipeline', {
    taskQueue: 'mlpipe',
    workflowId: uniqueId('cli-gate'),
    args: [
      {
        definition: {
          name: 'cli-gate',
          steps: {
            gate: { uses: 'approval' },
            after: { uses: 'echo', needs: ['gate'], with: { message: 'approved' } },
          },
        },
      },
    ],
  });
  for (let i = 0; i < 100; i++) {
    const status = await handle.query<RunStatus>('status').catch(() => undefined);
    if (status?.steps.gate?.waitingFor === 'approval') return handle;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the run never reached its approval step');
}

describe('mlpipe approve / reject / cancel', () => {
  it('approve --json: prints what it did, and the run goes on to succeed', async () => {
    const run = await startGated();
    const out = await mlpipe('approve', run.workflowId, 'gate', '--by', 'tester', '-m', 'fine', '--json');
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({ runId: run.workflowId, step: 'gate', decision: 'approve', by: 'tester' });
    await run.result();
    expect((await run.query<RunStatus>('status')).steps.after.state).toBe('succeeded');
  });

  it('reject: the run fails at the gate, naming who rejected it', async () => {
    const run = await startGated();
    const out = await mlpipe('reject', run.workflowId, 'gate', '--by', 'tester', '-m', 'not today');
    expect(out.code).toBe(0);
    expect(out.stderr).toContain(`rejected step gate of ${run.workflowId}`);
    await expect(run.result()).rejects.toThrow();
    const status = await run.query<RunStatus>('status');
    expect(status.state).toBe('failed');
    expect(status.error?.message).toContain('rejected by tester: not today');
    expect(status.steps.after.state).not.toBe('succeeded');
  });

  it('cancel --json: the run ends cancelled; an unknown run id is an error, not a success', async () => {
    const run = await startGated();
    const out = await mlpipe('cancel', run.workflowId, '--json');
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({ runId: run.workflowId, cancelRequested: true });
    await expect(run.result()).rejects.toThrow();
    expect((await run.query<RunStatus>('status')).state).toBe('cancelled');

    const missing = await mlpipe('cancel', uniqueId('no-such-run'), '--json');
    expect(missing.code).not.toBe(0);
    expect(missing.stdout).toBe('');
  });
});
