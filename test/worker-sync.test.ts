import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { ManagedProcess } from '../cli/processes';
import { testClient, uniqueId } from './helpers';

describe('mlpipe worker --sync-schedules', () => {
  it('creates the Temporal Schedules of the shipped definitions before polling', async () => {
    const { client, connection } = await testClient();
    const worker = new ManagedProcess({
      name: 'worker',
      command: process.execPath,
      args: [path.join(__dirname, '..', 'bin', 'mlpipe.js'), 'worker', '--role', 'cpu', '--sync-schedules'],
      env: { ...process.env, ...inject('stack').env, MLPIPE_CPU_QUEUE: uniqueId('sync-cpu') },
    });
    try {
      await worker.waitForLine(/worker \S+ polling/, 90_000);
      expect(worker.tail(500)).toMatch(/schedules synced: .*create|schedules synced: .*unchanged/);
      const weekly = await client.schedule.getHandle('mlpipe:flights-delay:weekly').describe();
      expect(weekly.spec.timezone).toBe('America/New_York');
      expect(weekly.policies.overlap).toBe('SKIP');
      expect(weekly.action).toMatchObject({ workflowType: 'pipeline', taskQueue: 'mlpipe' });
    } finally {
      await worker.stop();
      await client.schedule
        .getHandle('mlpipe:flights-delay:weekly')
        .delete()
        .catch(() => {});
      await connection.close();
    }
  });
});
