/**
 * Child process of `npm run bench:serve` (bench/serve.ts), so the load never shares an event loop with the server:
 *
 * - `tsx bench/serve-load.ts open <spec.json>`: an open-loop generator. Requests are sent at evenly spaced scheduled
 *   times, whether or not earlier ones have been answered, and each latency is measured from its scheduled send
 *   time, so a stalled server shows up in the tail instead of slowing the generator (no coordinated omission).
 * - `tsx bench/serve-load.ts max <spec.json>`: autocannon, closed loop with N connections: maximum throughput.
 * - `tsx bench/serve-load.ts bare <port> <responseBody>`: a bare node:http server that reads the body and answers a
 *   fixed JSON document, the HTTP floor to compare the serving process with.
 *
 * Results are one JSON line on stdout.
 */
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

/** The part of autocannon 9's API used here (the package ships no types). */
type Autocannon = (opts: {
  url: string;
  method: string;
  connections: number;
  duration: number;
  headers: Record<string, string>;
  body: string;
}) => Promise<{
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  non2xx: number;
}>;
const autocannon = createRequire(__filename)('autocannon') as Autocannon;

export interface OpenLoopSpec {
  url: string;
  /** Request bodies, sent round-robin. */
  bodies: string[];
  rate: number;
  durationS: number;
  /** Sent first at the same rate, not measured. */
  warmupS: number;
}

export interface OpenLoopResult {
  rate: number;
  /** Requests measured (after the warm-up). */
  sent: number;
  /** Requests sent in all, warm-up included. */
  total: number;
  ok: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Completed requests per second over the measured window. */
  throughput: number;
}

export interface MaxSpec {
  url: string;
  body: string;
  connections: number;
  durationS: number;
}

export interface MaxResult {
  requestsPerSecond: number;
  /** Requests completed. */
  requests: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
}

const quantile = (sorted: Float64Array, q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function openLoop(spec: OpenLoopSpec): Promise<OpenLoopResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const target = new URL(spec.url);
  const bodies = spec.bodies.map((b) => Buffer.from(b));
  const interval = 1000 / spec.rate;
  const warm = Math.round(spec.warmupS * spec.rate);
  const total = warm + Math.round(spec.durationS * spec.rate);
  const latencies = new Float64Array(total - warm);
  let ok = 0;
  let failed = 0;
  let done = 0;
  let measuredEnd = 0;
  const t0 = performance.now() + 20;

  const send = (i: number, scheduled: number) => {
    const body = bodies[i % bodies.length];
    const finish = (success: boolean) => {
      const end = performance.now();
      if (i >= warm) {
        latencies[i - warm] = end - scheduled;
        if (success) ok++;
        else failed++;
        measuredEnd = Math.max(measuredEnd, end);
      }
      done++;
    };
    const req = http.request(
      {
        agent,
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => finish(res.statusCode === 200));
      },
    );
    req.on('error', () => finish(false));
    req.end(body);
  };

  await new Promise<void>((resolve) => {
    let next = 0;
    const tick = () => {
      const now = performance.now();
      while (next < total && t0 + next * interval <= now) {
        send(next, t0 + next * interval);
        next++;
      }
      if (next < total) {
        // Sleep until the next send time; setImmediate for sub-millisecond gaps keeps the schedule tight.
        const wait = t0 + next * interval - performance.now();
        if (wait > 1.5) setTimeout(tick, wait - 1);
        else setImmediate(tick);
      } else resolve();
    };
    tick();
  });
  while (done < total) await new Promise((r) => setTimeout(r, 5));
  agent.destroy();
  const sorted = latencies.slice().sort();
  const measuredStart = t0 + warm * interval;
  return {
    rate: spec.rate,
    sent: total - warm,
    total,
    ok,
    failed,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    maxMs: sorted[sorted.length - 1],
    throughput: ok / ((measuredEnd - measuredStart) / 1000),
  };
}

async function max(spec: MaxSpec): Promise<MaxResult> {
  const result = await autocannon({
    url: spec.url,
    method: 'POST',
    connections: spec.connections,
    duration: spec.durationS,
    headers: { 'content-type': 'application/json' },
    body: spec.body,
  });
  return {
    requestsPerSecond: result.requests.average,
    requests: result.requests.total,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

function bare(port: number, response: string): void {
  const body = Buffer.from(response);
  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    req.on('data', () => undefined);
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
  });
  server.listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

async function main() {
  const [mode, arg, extra] = process.argv.slice(2);
  if (mode === 'bare') return bare(Number(arg), extra);
  const spec = JSON.parse(fs.readFileSync(arg, 'utf8')) as OpenLoopSpec & MaxSpec;
  const result = mode === 'open' ? await openLoop(spec) : await max(spec);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

void main();
