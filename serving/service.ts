/**
 * One serving instance: the HTTP server, the model host that follows the registry, the prediction and feedback
 * logs, and the instance report the control plane reads. `mlpipe serve` runs one; `mlpipe dev` and the tests embed
 * it with {@link startServing}.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { PortInUse } from '../cli/ports';
import type { ArtifactStore } from '../storage/artifact-store';
import { LogWriter } from '../storage/prediction-log';
import type { ModelRegistry } from '../storage/registry';
import { writeInstanceReport, type InstanceReport } from '../storage/serving-state';
import { ServingMetrics } from './metrics';
import { ModelHost, type ServingLogger } from './model-host';
import { createServingHandler } from './server';

export interface ServingOptions {
  store: ArtifactStore;
  registry: ModelRegistry;
  /** 0 picks a free port. @default 8080 */
  port?: number;
  /** @default 127.0.0.1 */
  host?: string;
  /** Serve only these models; by default every model with a `production` alias (rediscovered each poll). */
  models?: string[];
  /** Names this instance in its report and its log objects. @default <hostname>-<pid>-<random> */
  instanceId?: string;
  /** The URL the control plane reaches this instance at. @default http://<host>:<port> */
  advertiseUrl?: string;
  /** How often the registry aliases and traffic config are read. @default 1000 (MLPIPE_SERVE_POLL_MS) */
  pollMs?: number;
  /** How often the instance report is rewritten. @default 2000 */
  reportMs?: number;
  /** Largest request body, enforced while streaming. @default 1048576 (MLPIPE_SERVE_MAX_BODY) */
  maxBodyBytes?: number;
  /** Most rows per inference request and labels per feedback request. @default 1000 (MLPIPE_SERVE_MAX_ROWS) */
  maxRows?: number;
  /** onnxruntime threads per session. @default 1 */
  intraOpNumThreads?: number;
  /** Prediction/feedback log flush interval. @default 2000 */
  logFlushMs?: number;
  /** Log records kept in memory while the store is down (per log); the oldest are dropped past it. @default 100000 */
  logMaxBuffered?: number;
  /** @default JSON lines on stderr */
  logger?: ServingLogger;
}

/** A running serving instance. */
export interface ServingInstance {
  /** Base URL, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  readonly port: number;
  readonly instanceId: string;
  /** Every served model has its production version loaded. */
  readonly ready: boolean;
  /** Runs one poll round now (the timer keeps running too). */
  poll(): Promise<void>;
  /** The instance report as it would be written now. */
  report(): InstanceReport;
  /** Writes the instance report now. */
  writeReport(): Promise<void>;
  readonly predictionLog: LogWriter<'predictions'>;
  readonly feedbackLog: LogWriter<'feedback'>;
  /** This instance's Prometheus registry (also served at /metrics). */
  readonly metrics: Registry;
  /** Stops taking requests, lets those in flight finish, flushes the logs and marks the report stopped. */
  close(): Promise<void>;
}

const INSTANCE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Starts a serving instance: reads the registry once (so models are loaded when it resolves, unless the store is
 * down), then listens and keeps following the aliases and traffic config every `pollMs`.
 *
 * @throws PortInUse when the port is taken
 * @example
 * const serving = await startServing({ store, registry, port: 8080, host: '127.0.0.1' });
 * const res = await fetch(`${serving.url}/v1/models/flights-delay/predict`, {
 *   method: 'POST',
 *   headers: { 'content-type': 'application/json' },
 *   body: JSON.stringify({ instances: [{ date: '2001-02-03T08:15:00', distance: 1200, origin: 'SFO', destination: 'LAX' }] }),
 * });
 * await serving.close();
 */
export async function startServing(opts: ServingOptions): Promise<ServingInstance> {
  const instanceId = opts.instanceId ?? `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  if (!INSTANCE_ID.test(instanceId)) {
    throw new Error(`instanceId ${JSON.stringify(instanceId)}: expected 1-128 letters, digits, . _ -`);
  }
  const logger = opts.logger ?? stderrLogger();
  const logOptions = (kind: 'predictions' | 'feedback') => {
    let failing = false;
    return {
      store: opts.store,
      writerId: instanceId,
      flushIntervalMs: opts.logFlushMs,
      maxBuffered: opts.logMaxBuffered,
      onError: (err: Error) => {
        if (failing) return;
        failing = true;
        logger.warn(`${kind} log: flush failed, records stay buffered`, { error: err.message });
        setTimeout(() => (failing = false), 30_000).unref();
      },
    };
  };
  const predictionLog = new LogWriter({ ...logOptions('predictions'), kind: 'predictions' });
  const feedbackLog = new LogWriter({ ...logOptions('feedback'), kind: 'feedback' });
  const metrics = new ServingMetrics({ predictions: predictionLog, feedback: feedbackLog });
  const host = new ModelHost({
    store: opts.store,
    registry: opts.registry,
    models: opts.models,
    logger,
    intraOpNumThreads: opts.intraOpNumThreads,
    onLoadFailure: (model, version) => metrics.loadFailed(model, version),
  });
  await host.poll();

  const server = http.createServer(
    { keepAliveTimeout: 65_000, headersTimeout: 10_000, requestTimeout: 30_000 },
    createServingHandler({
      host,
      metrics,
      predictions: predictionLog,
      feedback: feedbackLog,
      logger,
      maxBodyBytes: opts.maxBodyBytes ?? 1024 * 1024,
      maxRows: opts.maxRows ?? 1000,
    }),
  );
  const bindHost = opts.host ?? '127.0.0.1';
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 8080, bindHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await Promise.all([host.close(), predictionLog.close(), feedbackLog.close()]);
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new PortInUse(`serving port ${opts.port} on ${bindHost} is in use (choose another with --port)`);
    }
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const shownHost = bindHost === '0.0.0.0' || bindHost === '::' ? os.hostname() : bindHost;
  const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
  const advertised = opts.advertiseUrl ?? url;
  const startedAt = new Date().toISOString();

  const report = (): InstanceReport => ({
    instanceId,
    url: advertised,
    startedAt,
    updatedAt: new Date().toISOString(),
    models: host.reportModels(),
    stats: Object.fromEntries([...host.stats].map(([k, s]) => [k, { ...s }])),
  });
  let reportFailing = false;
  const writeReport = async (final?: { stoppedAt: string }) => {
    try {
      await writeInstanceReport(opts.store, { ...report(), ...final });
      if (reportFailing) logger.info('instance report written again', { instanceId });
      reportFailing = false;
    } catch (err) {
      if (!reportFailing) logger.warn('instance report not written: retrying', { error: (err as Error).message });
      reportFailing = true;
    }
  };

  let closed = false;
  let pollTimer: NodeJS.Timeout | undefined;
  const schedulePoll = () => {
    if (closed) return;
    pollTimer = setTimeout(() => void host.poll().finally(schedulePoll), opts.pollMs ?? 1000);
    pollTimer.unref();
  };
  schedulePoll();
  let reporting: Promise<void> | undefined;
  const reportTimer = setInterval(() => {
    reporting ??= writeReport().finally(() => (reporting = undefined));
  }, opts.reportMs ?? 2000);
  reportTimer.unref();
  await writeReport();
  logger.info('serving', { url, instanceId, models: [...host.models.keys()] });

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    instanceId,
    get ready() {
      return host.ready;
    },
    poll: () => host.poll(),
    report,
    writeReport: () => writeReport(),
    predictionLog,
    feedbackLog,
    metrics: metrics.registry,
    close() {
      closing ??= (async () => {
        closed = true;
        clearTimeout(pollTimer);
        clearInterval(reportTimer);
        const drained = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        // Requests in flight get a few seconds; then the connections are cut.
        const cut = setTimeout(() => server.closeAllConnections(), 5_000);
        await drained;
        clearTimeout(cut);
        await reporting;
        await host.close();
        await Promise.all([predictionLog.close(), feedbackLog.close()]);
        await writeReport({ stoppedAt: new Date().toISOString() });
      })();
      return closing;
    },
  };
}

/** One JSON line per event on stderr. */
export function stderrLogger(): ServingLogger {
  const write = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields })}\n`);
  return { info: write('info'), warn: write('warn'), error: write('error') };
}
