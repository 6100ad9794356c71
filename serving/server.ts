/**
 * The serving HTTP API on node:http (no framework on the hot path):
 *
 * - Open Inference Protocol v2, as KServe and Triton speak it: `GET /v2/health/live`, `GET /v2/health/ready`,
 *   `GET /v2/models/{name}[/versions/{v}]` (metadata), `GET /v2/models/{name}[/versions/{v}]/ready`,
 *   `POST /v2/models/{name}[/versions/{v}]/infer` (tensors in, `label` + `probabilities` out).
 * - Named records: `POST /v1/models/{name}/predict` (`{ instances: [ {...raw fields} ] }`; the card's derivation
 *   runs here, as at ingest) and `POST /v1/models/{name}/feedback` (ground truth for earlier predictions).
 * - `GET /metrics` (Prometheus).
 *
 * Refusals are `{ error: { code, message, field? } }` with a 4xx status; the process keeps serving.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { MODEL_NAME_PATTERN } from '../storage/registry';
import type { LogWriter, PredictionRecord } from '../storage/prediction-log';
import type { LoadedVersion, ModelHost, Scores, ServedModel, ServingLogger } from './model-host';
import { SLOW_REQUEST_MS } from './model-host';
import type { Role, ServingMetrics } from './metrics';
import {
  parseFeedback,
  recordsToRows,
  requestIdFrom,
  RequestError,
  tensorsToRows,
  type FeaturePlan,
  type FeatureRows,
} from './validation';

export interface ServingHandlerOptions {
  host: ModelHost;
  metrics: ServingMetrics;
  predictions: LogWriter<'predictions'>;
  feedback: LogWriter<'feedback'>;
  logger: ServingLogger;
  /** Largest request body, enforced while it streams in. */
  maxBodyBytes: number;
  /** Most rows per inference request (and labels per feedback request). */
  maxRows: number;
}

type Protocol = 'v1' | 'v2';

/** How a request body turns into model inputs, by protocol. */
const parsers: Record<Protocol, (plan: FeaturePlan, body: unknown, maxRows: number) => FeatureRows> = {
  v1: recordsToRows,
  v2: tensorsToRows,
};

const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json\s*(?:;|$)/i;

/**
 * The request listener of a serving instance.
 *
 * @example
 * const server = http.createServer(createServingHandler({ host, metrics, predictions, feedback, logger, ... }));
 */
export function createServingHandler(opts: ServingHandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { host, metrics, logger } = opts;
  const unknownSeries = metrics.series('', '', '');
  let lastShadowWarning = 0;

  const send = (res: ServerResponse, status: number, body: string, id: string) => {
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-request-id': id,
    });
    res.end(body);
  };

  const refuse = (res: ServerResponse, err: RequestError, id: string) => {
    if (err.status === 413) res.setHeader('connection', 'close');
    send(res, err.status, JSON.stringify(err.toJSON()), id);
  };

  /** Answers a request that went wrong; a RequestError is the caller's fault, anything else ours (500). */
  const fail = (res: ServerResponse, err: unknown, id: string): number => {
    if (err instanceof RequestError) {
      refuse(res, err, id);
      return err.status;
    }
    logger.error('request failed', { id, error: (err as Error).message });
    refuse(res, new RequestError(500, 'internal', `the server failed to answer: ${(err as Error).message}`), id);
    return 500;
  };

  const served = (name: string | undefined): ServedModel => {
    const model = name !== undefined && MODEL_NAME_PATTERN.test(name) ? host.models.get(name) : undefined;
    if (!model) {
      throw new RequestError(404, 'unknown_model', `no model ${JSON.stringify(name)} is served here`, 'model');
    }
    return model;
  };

  const pinned = (model: ServedModel, version: string): LoadedVersion => {
    const v = Number(version);
    for (const lv of [model.production, model.candidate]) if (lv && lv.version === v) return lv;
    const loaded = [model.production, model.candidate].filter((x) => x).map((x) => `v${x!.version}`);
    throw new RequestError(
      404,
      'unknown_version',
      `model "${model.name}" has no version ${JSON.stringify(version)} loaded (loaded: ${loaded.join(', ') || 'none'})`,
      'version',
    );
  };

  const metadata = (model: ServedModel, lv: LoadedVersion | null) => {
    const shown = lv ?? model.production;
    if (!shown) throw new RequestError(503, 'model_not_ready', `model "${model.name}" has no version loaded yet`);
    const versions = [model.production, model.candidate].filter((x) => x).map((x) => String(x!.version));
    return {
      name: model.name,
      versions: [...new Set(versions)],
      platform: 'onnxruntime',
      ...(lv && { version: String(lv.version) }),
      inputs: shown.plan.inputs.map((i) => ({
        name: i.name,
        datatype: i.kind === 'numeric' ? 'FP32' : 'BYTES',
        shape: [-1, 1],
      })),
      outputs:
        shown.task === 'regression'
          ? [{ name: 'variable', datatype: 'FP32', shape: [-1, 1] }]
          : [
              { name: 'label', datatype: 'INT64', shape: [-1] },
              { name: 'probabilities', datatype: 'FP32', shape: [-1, shown.numClasses] },
            ],
      parameters: {
        version: shown.version,
        sha256: shown.sha256,
        task: shown.task,
        classes: shown.classes,
        /** What `POST /v1/models/{name}/predict` records carry. */
        fields: shown.plan.fields,
        derive: shown.plan.derive?.spec ?? {},
      },
    };
  };

  /** Scores, answers, then counts, logs and (in shadow mode) scores the candidate. */
  const infer = async (
    req: IncomingMessage,
    res: ServerResponse,
    id: string,
    start: number,
    protocol: Protocol,
    model: ServedModel,
    version: string | undefined,
  ): Promise<void> => {
    let lv: LoadedVersion | undefined;
    let role: Role = 'production';
    let status = 200;
    try {
      const body = await readJson(req, opts.maxBodyBytes);
      if (version !== undefined) {
        lv = pinned(model, version);
        role = lv === model.production ? 'production' : 'canary';
      } else {
        lv = model.production ?? undefined;
        if (!lv) throw new RequestError(503, 'model_not_ready', `model "${model.name}" has no version loaded yet`);
        const { candidate, traffic } = model;
        if (traffic.mode === 'canary' && candidate && candidate !== lv && Math.random() < traffic.canaryShare) {
          lv = candidate;
          role = 'canary';
        }
      }
      const rows = parsers[protocol](lv.plan, body, opts.maxRows);
      if (protocol === 'v2') id = bodyId(body) ?? id;
      let scores: Scores;
      try {
        scores = await lv.run(rows);
      } catch (err) {
        throw new RequestError(
          500,
          'inference_failed',
          `model "${model.name}" v${lv.version} failed: ${(err as Error).message}`,
        );
      }
      const answer =
        protocol === 'v1' ? v1Body(lv, scores, rows.n, id) : JSON.stringify(v2Answer(lv, scores, rows.n, id));
      send(res, 200, answer, id);
      record(lv, role, rows, scores, id, start);
      const shadow = model.traffic.mode === 'shadow' ? model.candidate : null;
      if (shadow && shadow !== lv && version === undefined) void scoreShadow(shadow, protocol, body, id);
    } catch (err) {
      status = fail(res, err, id);
      if (lv && status >= 500) {
        lv.stats.requests++;
        lv.stats.errors++;
        lv.stats.latencySumMs += performance.now() - start;
      }
    }
    if (status !== 200) {
      const series = lv ? metrics.series(model.name, lv.version, role) : metrics.series(model.name, '', '');
      series.observe((performance.now() - start) / 1000, status);
    }
  };

  /** Counters, latency and the prediction log of an answered request. */
  const record = (lv: LoadedVersion, role: Role, rows: FeatureRows, scores: Scores, id: string, start: number) => {
    const ms = performance.now() - start;
    const stats = lv.stats;
    stats.requests++;
    stats.latencySumMs += ms;
    if (ms > SLOW_REQUEST_MS) stats.slowRequests++;
    metrics.series(lv.model, lv.version, role).observe(ms / 1000, 200);
    logPredictions(lv, role, rows, scores, id);
  };

  const logPredictions = (lv: LoadedVersion, role: Role, rows: FeatureRows, scores: Scores, id: string) => {
    const ts = Date.now();
    const { inputs } = lv.plan;
    const raw = rows.raw ? Object.entries(rows.raw) : [];
    for (let r = 0; r < rows.n; r++) {
      const features: PredictionRecord['features'] = {};
      for (let i = 0; i < inputs.length; i++) {
        const column = rows.columns[i];
        const v = column[r];
        features[inputs[i].name] = typeof v === 'number' ? (v !== v ? null : v) : v === '' ? null : v;
      }
      for (const [name, values] of raw) {
        const v = values[r];
        features[name] = typeof v === 'number' ? (v !== v ? null : v) : v;
      }
      const { score, label } = rowScore(lv, scores, r);
      opts.predictions.append({
        id: rows.n === 1 ? id : `${id}:${r}`,
        ts,
        model: lv.model,
        version: lv.version,
        role,
        features,
        score,
        label,
      });
    }
  };

  /** The candidate's score of a request production answered: logged and counted, never returned. */
  const scoreShadow = async (lv: LoadedVersion, protocol: Protocol, body: unknown, id: string) => {
    const start = performance.now();
    try {
      const rows = parsers[protocol](lv.plan, body, opts.maxRows);
      const scores = await lv.run(rows);
      record(lv, 'shadow', rows, scores, id, start);
    } catch (err) {
      lv.stats.requests++;
      lv.stats.errors++;
      const status = err instanceof RequestError ? err.status : 500;
      metrics.series(lv.model, lv.version, 'shadow').observe((performance.now() - start) / 1000, status);
      if (Date.now() - lastShadowWarning > 10_000) {
        lastShadowWarning = Date.now();
        logger.warn('shadow scoring failed (production answered)', {
          model: lv.model,
          version: lv.version,
          error: (err as Error).message,
        });
      }
    }
  };

  const feedback = async (req: IncomingMessage, res: ServerResponse, id: string, model: ServedModel) => {
    const body = await readJson(req, opts.maxBodyBytes);
    const labels = parseFeedback(body, opts.maxRows);
    const ts = Date.now();
    for (const l of labels) opts.feedback.append({ id: l.id, ts, model: model.name, label: l.label });
    send(res, 200, JSON.stringify({ accepted: labels.length, id }), id);
  };

  const route = async (req: IncomingMessage, res: ServerResponse, id: string, start: number): Promise<void> => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const parts = (q < 0 ? url : url.slice(0, q)).split('/');
    // parts[0] is '' (the path starts with '/').
    if (parts[1] === 'v2' && parts[2] === 'models' && parts.length >= 4) {
      const model = served(decode(parts[3]));
      const rest = parts.slice(4);
      const version = rest[0] === 'versions' ? rest[1] : undefined;
      const action = rest[0] === 'versions' ? rest.slice(2) : rest;
      if (rest[0] === 'versions' && (version === undefined || version === '')) throw notFound(url);
      if (action.length === 1 && action[0] === 'infer') {
        allowOnly(req, parts, 'POST');
        return infer(req, res, id, start, 'v2', model, version);
      }
      if (action.length === 0 || (action.length === 1 && action[0] === '')) {
        allowOnly(req, parts, 'GET');
        return send(res, 200, JSON.stringify(metadata(model, version ? pinned(model, version) : null)), id);
      }
      if (action.length === 1 && action[0] === 'ready') {
        allowOnly(req, parts, 'GET');
        const ready = version
          ? [model.production, model.candidate].some((lv) => lv?.version === Number(version))
          : !!model.production;
        return send(res, ready ? 200 : 503, JSON.stringify({ name: model.name, ready }), id);
      }
      throw notFound(url);
    }
    if (parts[1] === 'v1' && parts[2] === 'models' && parts.length === 5) {
      const model = served(decode(parts[3]));
      allowOnly(req, parts, 'POST');
      if (parts[4] === 'predict') return infer(req, res, id, start, 'v1', model, undefined);
      if (parts[4] === 'feedback') return feedback(req, res, id, model);
      throw notFound(url);
    }
    const path = parts.join('/');
    if (path === '/v2/health/live') {
      allowOnly(req, parts, 'GET');
      return send(res, 200, '{"live":true}', id);
    }
    if (path === '/v2/health/ready') {
      allowOnly(req, parts, 'GET');
      const ready = host.ready;
      return send(res, ready ? 200 : 503, JSON.stringify({ ready }), id);
    }
    if (path === '/v2' || path === '/v2/') {
      allowOnly(req, parts, 'GET');
      return send(res, 200, JSON.stringify({ name: 'mlpipe', version: '1', extensions: [] }), id);
    }
    if (path === '/metrics') {
      allowOnly(req, parts, 'GET');
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType, 'x-request-id': id });
      res.end(text);
      return;
    }
    throw notFound(url);
  };

  return (req, res) => {
    const start = performance.now();
    let id: string;
    try {
      id = requestIdFrom(req.headers['x-request-id']) ?? randomUUID();
    } catch (err) {
      id = randomUUID();
      unknownSeries.observe(0, fail(res, err, id));
      return;
    }
    route(req, res, id, start).catch((err: unknown) => {
      if (res.headersSent) return;
      unknownSeries.observe((performance.now() - start) / 1000, fail(res, err, id));
    });
  };
}

/** Refuses a request whose method is not `method` (405). */
function allowOnly(req: IncomingMessage, parts: readonly string[], method: string): void {
  if ((req.method ?? 'GET') !== method) {
    throw new RequestError(405, 'method_not_allowed', `${req.method ?? 'GET'} ${parts.join('/')}: use ${method}`);
  }
}

const notFound = (url: string) =>
  new RequestError(
    404,
    'not_found',
    `no route ${url.slice(0, 200)} (see /v2/models/{name}, /v1/models/{name}/predict)`,
  );

function decode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function checkContentType(req: IncomingMessage): void {
  const type = req.headers['content-type'];
  if (!type || !JSON_TYPE.test(type)) {
    throw new RequestError(
      415,
      'unsupported_media_type',
      `content-type: expected application/json, got ${type ? JSON.stringify(type.slice(0, 100)) : 'none'}`,
      'content-type',
    );
  }
}

/**
 * The request body as text, refused with 413 as soon as it passes `limit` bytes (by its declared length, or while
 * it streams in): a client cannot make the server buffer more than the limit.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) {
    req.resume(); // discard; the connection closes after the answer
    return Promise.reject(tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () =>
      resolve(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8')),
    );
    req.once('error', reject);
  });
}

const tooLarge = (limit: number) =>
  new RequestError(413, 'payload_too_large', `body: larger than ${limit} bytes (MLPIPE_SERVE_MAX_BODY)`, 'body');

function bodyId(body: unknown): string | undefined {
  const id = (body as { id?: unknown }).id;
  return typeof id === 'string' && id.length > 0 && id.length <= 128 ? id : undefined;
}

/** Prediction log score and label of row `r`. */
function rowScore(lv: LoadedVersion, scores: Scores, r: number): { score: number; label: string | number | null } {
  if (scores.kind === 'regression') return { score: scores.values[r], label: null };
  const C = scores.numClasses;
  const k = Number(scores.labels[r]);
  const score = C === 2 ? scores.probabilities[r * 2 + 1] : scores.probabilities[r * C + k];
  return { score, label: lv.classes ? lv.classes[k] : k };
}

/** `JSON.stringify` of a number. */
const jsonNumber = (x: number): string => (Number.isFinite(x) ? String(x) : 'null');

/**
 * The `/v1` answer `{ predictions: [{ label, probability, probabilities } | { value }], model, version, id }` as JSON
 * text, written out directly: it is built for every request, and the same text as `JSON.stringify` of that object.
 */
export function v1Body(lv: LoadedVersion, scores: Scores, n: number, id: string): string {
  let out = '{"predictions":[';
  for (let r = 0; r < n; r++) {
    if (r > 0) out += ',';
    if (scores.kind === 'regression') {
      out += `{"value":${jsonNumber(scores.values[r])}}`;
      continue;
    }
    const C = scores.numClasses;
    const { score, label } = rowScore(lv, scores, r);
    // JSON.stringify leaves undefined keys out (a class index past `classes` or the probabilities).
    out += label === undefined ? '{' : `{"label":${JSON.stringify(label)},`;
    if (score !== undefined) out += `"probability":${jsonNumber(score)},`;
    out += '"probabilities":[';
    for (let c = 0; c < C; c++) out += (c > 0 ? ',' : '') + jsonNumber(scores.probabilities[r * C + c]);
    out += ']}';
  }
  return `${out}],"model":${JSON.stringify(lv.model)},"version":${jsonNumber(lv.version)},"id":${JSON.stringify(id)}}`;
}

function v2Answer(lv: LoadedVersion, scores: Scores, n: number, id: string) {
  const outputs =
    scores.kind === 'regression'
      ? [{ name: 'variable', datatype: 'FP32', shape: [n, 1], data: Array.from(scores.values) }]
      : [
          { name: 'label', datatype: 'INT64', shape: [n], data: Array.from(scores.labels, Number) },
          {
            name: 'probabilities',
            datatype: 'FP32',
            shape: [n, scores.numClasses],
            data: Array.from(scores.probabilities),
          },
        ];
  return { model_name: lv.model, model_version: String(lv.version), id, outputs };
}

/** The request's JSON body: content type checked, size bounded while streaming, 400 when it does not parse. */
async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  checkContentType(req);
  const text = await readBody(req, maxBytes);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RequestError(400, 'invalid_json', `body is not valid JSON: ${(err as Error).message}`);
  }
}
