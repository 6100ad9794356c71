/**
 * Prometheus metrics of one serving instance, on its own prom-client Registry (several instances can live in one
 * process, as in tests). Label children are cached per (model, version, role, code) so the hot path does not hash
 * label sets on every request.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LogWriter } from '../storage/prediction-log';

/** Request latency buckets in seconds: sub-millisecond resolution where single-row requests land. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export type Role = 'production' | 'canary' | 'shadow';

/** Counters and histograms of one labelled series, resolved once. */
export interface SeriesHandle {
  observe(seconds: number, code: number): void;
}

export class ServingMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'model' | 'version' | 'role' | 'code'>;
  private readonly errors: Counter<'model' | 'version' | 'role' | 'code'>;
  private readonly latency: Histogram<'model' | 'version' | 'role'>;
  private readonly loadFailures: Counter<'model' | 'version'>;
  private readonly handles = new Map<string, SeriesHandle>();

  constructor(logs: { predictions: LogWriter<'predictions'>; feedback: LogWriter<'feedback'> }) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'mlpipe_serving_requests_total',
      help: 'Inference requests answered, by model, version, role and HTTP status',
      labelNames: ['model', 'version', 'role', 'code'],
      registers,
    });
    this.errors = new Counter({
      name: 'mlpipe_serving_errors_total',
      help: 'Requests answered with a 4xx or 5xx status (model and version empty when unknown)',
      labelNames: ['model', 'version', 'role', 'code'],
      registers,
    });
    this.latency = new Histogram({
      name: 'mlpipe_serving_request_duration_seconds',
      help: 'Time from the request arriving to the response being written (shadow: the scoring time)',
      labelNames: ['model', 'version', 'role'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.loadFailures = new Counter({
      name: 'mlpipe_serving_model_load_failures_total',
      help: 'Model versions refused at load (integrity check, onnxruntime error); the previous version keeps serving',
      labelNames: ['model', 'version'],
      registers,
    });
    const logGauge = (name: string, help: string, read: (w: LogWriter<'predictions' | 'feedback'>) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['log'],
        registers,
        collect() {
          this.set({ log: 'predictions' }, read(logs.predictions));
          this.set({ log: 'feedback' }, read(logs.feedback));
        },
      });
    logGauge('mlpipe_serving_log_buffered', 'Log records waiting in memory for the object store', (w) => w.pending);
    logGauge('mlpipe_serving_log_dropped', 'Log records dropped because the buffer was full', (w) => w.dropped);
    logGauge('mlpipe_serving_log_written', 'Log records written to the object store', (w) => w.written);
  }

  /** The series of a (model, version, role); `observe` counts the request and its latency. */
  series(model: string, version: number | '', role: Role | ''): SeriesHandle {
    const key = `${model}\u0000${version}\u0000${role}`;
    let handle = this.handles.get(key);
    if (!handle) {
      const labels = { model, version: String(version), role };
      const latency = this.latency.labels(labels);
      const byCode = new Map<number, { ok: Counter.Internal; err?: Counter.Internal }>();
      handle = {
        observe: (seconds, code) => {
          let c = byCode.get(code);
          if (!c) {
            const withCode = { ...labels, code: String(code) };
            c = { ok: this.requests.labels(withCode), err: code >= 400 ? this.errors.labels(withCode) : undefined };
            byCode.set(code, c);
          }
          c.ok.inc();
          c.err?.inc();
          if (model) latency.observe(seconds);
        },
      };
      this.handles.set(key, handle);
    }
    return handle;
  }

  loadFailed(model: string, version: number): void {
    this.loadFailures.inc({ model, version: String(version) });
  }
}
