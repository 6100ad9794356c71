import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ManagedProcess } from '../cli/processes';
import type { RunStatus } from '../workflows/types';
import { testClient, uniqueId } from './helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlpipe-durable-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A CPU worker of our own, on queues nobody else serves, so the test can kill it. */
function startCpuWorker(queue: string): ManagedProcess {
  const stack = inject('stack');
  return new ManagedProcess({
    name: 'cpu-worker',
    command: process.execPath,
    args: [path.join(__dirname, '..', 'bin', 'mlpipe.js'), 'worker', '--role', 'cpu'],
    env: { ...process.env, ...stack.env, MLPIPE_CPU_QUEUE: queue },
    logFile: path.join(tmp, 'worker.log'),
  });
}

const lines = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n') : []);

describe('a CPU worker killed with -9 mid-step', () => {
  it('loses nothing: after a restart the run completes and no completed step runs twice', async () => {
    const { client, connection } = await testClient();
    const queue = uniqueId('cpu-durable');
    const log = path.join(tmp, 'steps.log');
    const append = (line: string) => ({ uses: 'command', with: { run: ['sh', '-c', `echo ${line} >> ${log}`] } });
    let worker = startCpuWorker(queue);
    try {
      await worker.waitForLine(/worker \S+ polling/, 60_000);
      const handle = await client.workflow.start('pipeline', {
        taskQueue: 'mlpipe',
        workflowId: uniqueId('durable'),
        args: [
          {
            queues: { cpu: queue },
            definition: {
              name: 'durable',
              steps: {
                first: append('first'),
                slow: {
                  uses: 'command',
                  needs: ['first'],
                  heartbeat: '2s',
                  with: { run: ['sh', '-c', `echo slow-start >> ${log}; sleep 3; echo slow-end >> ${log}`] },
                },
                last: { ...append('last'), needs: ['slow'] },
              },
            },
          },
        ],
      });
      await waitFor(() => lines(log).includes('slow-start'));
      await worker.kill(); // kill -9, mid-step
      await new Promise((r) => setTimeout(r, 1000));
      worker = startCpuWorker(queue);
      await worker.waitForLine(/worker \S+ polling/, 60_000);

      await handle.result();
      const status = await handle.query<RunStatus>('status');
      expect(status.state).toBe('succeeded');
      expect(status.steps.slow.attempts).toBe(2); // the killed attempt, then the one that finished
      // The completed step before the crash ran once; the interrupted one re-ran from its start; nothing after ran twice.
      expect(lines(log)).toEqual(['first', 'slow-start', 'slow-start', 'slow-end', 'last']);
    } finally {
      await worker.stop();
      await connection.close();
    }
  });
});

async function waitFor(check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
