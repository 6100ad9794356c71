import { describe, expect, it } from 'vitest';
import { ConfigInvalid, loadConfig } from './env';

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    const c = loadConfig({});
    expect(c.temporal).toMatchObject({ address: undefined, namespace: 'default', tls: false });
    expect(c.s3).toMatchObject({ endpoint: undefined, bucket: 'mlpipe', accessKey: 'mlpipe', region: 'us-east-1' });
    expect(c.queues).toEqual({ workflows: 'mlpipe', cpu: 'mlpipe-cpu', gpu: 'mlpipe-gpu' });
    expect(c.home).toBe('.mlpipe');
    expect(c.uiPort).toBe(8233);
    expect(c.servePort).toBe(8080);
  });

  it('reports every bad variable at once, with what is expected', () => {
    const err = (() => {
      try {
        loadConfig({
          TEMPORAL_ADDRESS: 'localhost',
          MLPIPE_S3_ENDPOINT: 'ftp://x',
          MLPIPE_S3_BUCKET: 'Bad_Bucket',
          MLPIPE_UI_PORT: '99999',
          MLPIPE_GPU_CPU_FALLBACK: 'maybe',
        });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigInvalid);
    const problems = (err as ConfigInvalid).problems;
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'MLPIPE_GPU_CPU_FALLBACK',
      'MLPIPE_S3_BUCKET',
      'MLPIPE_S3_ENDPOINT',
      'MLPIPE_UI_PORT',
      'TEMPORAL_ADDRESS',
    ]);
    expect(problems.find((p) => p.startsWith('TEMPORAL_ADDRESS'))).toContain('expected host:port');
  });

  it('never echoes a secret value in its error', () => {
    try {
      loadConfig({ MLPIPE_S3_SECRET_KEY: 'short' });
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toContain('MLPIPE_S3_SECRET_KEY');
      expect((e as Error).message).not.toContain('short');
    }
  });

  it('turns TLS on for an API key or a client certificate, and wants cert and key together', () => {
    expect(loadConfig({ TEMPORAL_API_KEY: 'k' }).temporal.tls).toBe(true);
    expect(() => loadConfig({ TEMPORAL_TLS_CERT: '/c.pem' })).toThrow(/TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY/);
  });
});
