import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MlpipeClient, RunInputInvalid } from '../client/mlpipe-client';
import { definePipeline } from '../definitions/define';
import { loadConfig } from '../config/env';
import { uniqueId } from './helpers';

let mlpipe: MlpipeClient;
beforeAll(async () => {
  mlpipe = await MlpipeClient.connect({ config: loadConfig({ ...process.env, ...inject('stack').env }) });
});
afterAll(async () => mlpipe?.close());

const typed = definePipeline({
  name: 'typed-client',
  params: { n: { type: 'integer', default: 1 }, label: { type: 'string' } },
  steps: { echo: { uses: 'echo', with: { n: '${{ params.n }}', label: '${{ params.label }}' } } },
});

describe('MlpipeClient', () => {
  it('starts a typed definition and follows it to its result', async () => {
    const run = await mlpipe.startDefinition(typed, { label: 'x', n: 3 });
    const result = await run.result();
    expect(result.steps.echo.outputs).toEqual({ n: 3, label: 'x' });
    expect((await run.status()).state).toBe('succeeded');
  });

  it('refuses bad params before anything starts, listing every problem', async () => {
    const err = await mlpipe.start('hello', { nope: 1 } as Record<string, unknown>).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunInputInvalid);
    expect((err as RunInputInvalid).issues.join('\n')).toContain('nope');
    const missing = await mlpipe
      .start('typed-client', { n: 'abc' }, { definition: typed })
      .catch((e: unknown) => e as RunInputInvalid);
    expect((missing as RunInputInvalid).issues.length).toBe(2); // n not an integer, label missing
  });

  it('starts one run for one idempotency key, even after it ended', async () => {
    const key = uniqueId('k');
    const first = await mlpipe.start('hello', {}, { idempotencyKey: key });
    await first.result();
    const second = await mlpipe.start('hello', {}, { idempotencyKey: key });
    expect(second.runId).toBe(first.runId);
    expect((await second.describe()).runId).toBe((await first.describe()).runId);
  });

  it('reaches the model registry', async () => {
    expect(Array.isArray(await mlpipe.models.list())).toBe(true);
  });
});
