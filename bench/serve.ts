/**
 * `npm run bench:serve`: latency and throughput of `mlpipe serve` on the flights GBDT (100 trees, 31 leaves,
 * trained here on 200k real flights), single-row `POST /v1/models/{name}/predict` with keep-alive, beside two limits
 * measured in the same run:
 *
 * - compute: `session.run` in-process on the same rows (what onnxruntime alone costs);
 * - HTTP: a bare node:http server answering a fixed JSON body, under the same generator.
 *
 * The load comes from a separate process (bench/serve-load.ts): an open-loop generator with evenly spaced arrivals
 * at 200, 500 and 1,000 req/s (latency from the scheduled send time), then autocannon -c 16 for maximum throughput.
 * The serving process is the real CLI (`mlpipe serve`) on a MinIO of its own, prediction log included.
 * Each load also reports the CPU time the server process spent per request (user + system, from /proc on Linux):
 * on a shared machine it varies far less than latency and throughput, which also measure the neighbours.
 * `-- --profile DIR` writes the serving process's CPU profile there.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { ensureBinaries } from '../cli/binaries';
import { getFreePort } from '../cli/ports';
import { ManagedProcess } from '../cli/processes';
import { trainGbdt } from '../ml/gbdt';
import { exportGbdtToOnnx } from '../ml/onnx-export';
import type { Table } from '../ml/table';
import { S3ArtifactStore } from '../storage/artifact-store';
import { createModelRegistry } from '../storage/registry';
import { createS3Client, ensureBucket } from '../storage/s3-client';
import type { MaxResult, MaxSpec, OpenLoopResult, OpenLoopSpec } from './serve-load';
import { flightsParquetPath, ingestFlights } from './train-data';

const ROWS = 200_000;
const MODEL = 'flights-bench';
const FEATURES = ['distance', 'origin', 'destination', 'hour', 'dayOfWeek'];
const DERIVE = { delayed: 'delay > 15', hour: 'hour(date)', dayOfWeek: 'dayOfWeek(date)' };
const RATES = [200, 500, 1000];
const DURATION_S = 5;
const WARMUP_S = 1;
const MAX_CONNECTIONS = 16;
const MAX_DURATION_S = 5;
/** Distinct request rows, sent round-robin. */
const BODIES = 1000;
/** USER_HZ: the unit of the CPU times in /proc/<pid>/stat (100 on Linux). */
const CLOCK_TICKS = 100;

const log = (line: string): void => void process.stderr.write(`[bench:serve] ${line}\n`);
const ROOT = path.join(__dirname, '..');

/** Runs bench/serve-load.ts in its own process and returns its JSON line. */
function loadProcess<T>(mode: 'open' | 'max', spec: OpenLoopSpec | MaxSpec, dir: string): Promise<T> {
  const file = path.join(dir, `spec-${mode}.json`);
  fs.writeFileSync(file, JSON.stringify(spec));
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(__dirname, 'serve-load.ts'), mode, file],
      { cwd: ROOT, maxBuffer: 1 << 20 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as T),
    ),
  );
}

/** CPU time (user + system) a process has used, in ms; undefined where /proc is not there. */
function cpuMs(pid: number | undefined): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** Runs a load and measures the server's CPU time per request it sent. */
async function measured<T>(pid: number | undefined, run: () => Promise<T>, requests: (r: T) => number) {
  const before = cpuMs(pid);
  const r = await run();
  const after = cpuMs(pid);
  const cpuUs = before === undefined || after === undefined ? undefined : ((after - before) * 1000) / requests(r);
  return { r, cpuUs };
}

/** Single-row request bodies from the table, as a client would send them (departure time as text). */
function requestBodies(table: Table, count: number): string[] {
  const col = (n: string) => table.columns.find((c) => c.name === n)!;
  const [time, distance, origin, destination] = ['time', 'distance', 'origin', 'destination'].map(col);
  const text = (c: typeof origin, r: number) =>
    c.kind === 'categorical' && c.codes[r] >= 0 ? c.dictionary[c.codes[r]] : null;
  const step = Math.floor(table.numRows / count);
  return Array.from({ length: count }, (_, i) => {
    const r = i * step;
    const record = {
      date: new Date(time.kind === 'numeric' ? time.values[r] : 0).toISOString().slice(0, 19),
      distance: distance.kind === 'numeric' ? distance.values[r] : null,
      origin: text(origin, r),
      destination: text(destination, r),
    };
    return JSON.stringify({ instances: [record] });
  });
}

/** `session.run` on single rows in-process: the compute floor. */
async function computeLimit(onnx: Uint8Array, table: Table, threads: number) {
  const session = await ort.InferenceSession.create(onnx, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const columns = FEATURES.map((f) => table.columns.find((c) => c.name === f)!);
  const feeds = (r: number) => {
    const out: Record<string, ort.Tensor> = {};
    for (const c of columns) {
      out[c.name] =
        c.kind === 'numeric'
          ? new ort.Tensor('float32', Float32Array.of(c.values[r]), [1, 1])
          : new ort.Tensor('string', [c.codes[r] < 0 ? '' : c.dictionary[c.codes[r]]], [1, 1]);
    }
    return out;
  };
  const n = 5000;
  for (let i = 0; i < 500; i++) await session.run(feeds(i));
  const times = new Float64Array(n);
  const step = Math.floor(table.numRows / n);
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const f = feeds(i * step);
    const t = performance.now();
    await session.run(f);
    times[i] = performance.now() - t;
  }
  const total = performance.now() - start;
  await session.release();
  times.sort();
  return { p50Ms: times[n >> 1], p99Ms: times[Math.floor(n * 0.99)], throughput: n / (total / 1000) };
}

async function main() {
  const { values: args } = parseArgs({ options: { profile: { type: 'string' } } });
  const started = performance.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlpipe-bench-serve-'));
  const children: ManagedProcess[] = [];
  try {
    log(`reading ${ROWS} flights`);
    const { table } = await ingestFlights(flightsParquetPath(), ROWS);
    log('training 100 trees, 31 leaves');
    const model = await trainGbdt(table, {
      objective: 'binary',
      label: 'delayed',
      features: FEATURES,
      numTrees: 100,
      numLeaves: 31,
      learningRate: 0.1,
      minDataInLeaf: 20,
    });
    const card = {
      name: MODEL,
      kind: 'gbdt',
      label: 'delayed',
      classes: model.classes,
      features: model.features,
      derive: DERIVE,
    };
    const onnx = exportGbdtToOnnx(model, { modelCard: card });

    log('starting MinIO and registering the model');
    const bin = (await ensureBinaries({ devserver: false, minio: true })).minio!;
    const creds = { accessKey: 'bench-serve', secretKey: 'bench-serve-secret', region: 'us-east-1' };
    const minioPort = await getFreePort();
    const minio = new ManagedProcess({
      name: 'minio',
      command: bin,
      args: [
        'server',
        path.join(dir, 'minio'),
        '--address',
        `127.0.0.1:${minioPort}`,
        '--console-address',
        `127.0.0.1:${await getFreePort()}`,
      ],
      env: {
        ...process.env,
        MINIO_ROOT_USER: creds.accessKey,
        MINIO_ROOT_PASSWORD: creds.secretKey,
        MINIO_BROWSER: 'off',
      },
      logFile: path.join(dir, 'minio.log'),
    });
    children.push(minio);
    const endpoint = `http://127.0.0.1:${minioPort}`;
    await minio.waitReady(async () => (await fetch(`${endpoint}/minio/health/live`)).ok, 60_000);
    const client = createS3Client({ endpoint, ...creds });
    await ensureBucket(client, 'mlpipe', creds.region);
    const store = new S3ArtifactStore(client, 'mlpipe', endpoint);
    const registry = createModelRegistry({ client, bucket: 'mlpipe', store, endpoint });
    const put = await store.put('bench/model.onnx', Buffer.from(onnx));
    const { version } = await registry.registerVersion({
      name: MODEL,
      runId: 'bench',
      stepId: 'train',
      onnx: { uri: put.uri, sha256: put.sha256, size: put.size },
      card,
    });
    await registry.setAlias(MODEL, 'production', version);

    log('starting `mlpipe serve` and the bare HTTP server');
    const servePort = await getFreePort();
    const serving = new ManagedProcess({
      name: 'serve',
      command: process.execPath,
      args: [
        ...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(args.profile)}`] : []),
        path.join(ROOT, 'bin', 'mlpipe.js'),
        'serve',
        '--port',
        String(servePort),
        '--models',
        MODEL,
      ],
      env: {
        ...process.env,
        MLPIPE_FROM_SOURCE: '1',
        MLPIPE_S3_ENDPOINT: endpoint,
        MLPIPE_S3_ACCESS_KEY: creds.accessKey,
        MLPIPE_S3_SECRET_KEY: creds.secretKey,
        MLPIPE_S3_BUCKET: 'mlpipe',
      },
      logFile: path.join(dir, 'serve.log'),
    });
    children.push(serving);
    const url = `http://127.0.0.1:${servePort}`;
    await serving.waitReady(async () => (await fetch(`${url}/v2/health/ready`)).ok, 60_000);
    const bodies = requestBodies(table, BODIES);
    const predictUrl = `${url}/v1/models/${MODEL}/predict`;
    const sample = await (
      await fetch(predictUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bodies[0] })
    ).text();

    const barePort = await getFreePort();
    const bare = new ManagedProcess({
      name: 'bare',
      command: process.execPath,
      args: ['--import', 'tsx', path.join(__dirname, 'serve-load.ts'), 'bare', String(barePort), sample],
      logFile: path.join(dir, 'bare.log'),
    });
    children.push(bare);
    await bare.waitForLine(/listening/, 30_000);
    const bareUrl = `http://127.0.0.1:${barePort}/`;

    log('compute limit: session.run in-process');
    const compute1 = await computeLimit(onnx, table, 1);
    const compute2 = await computeLimit(onnx, table, 2);

    const targets = [
      ['mlpipe serve', predictUrl, serving.pid],
      ['bare node:http', bareUrl, bare.pid],
    ] as const;
    const open: { name: string; rate: number; r: OpenLoopResult; cpuUs?: number }[] = [];
    for (const rate of RATES) {
      for (const [name, target, pid] of targets) {
        log(`${name} at ${rate} req/s (open loop, ${DURATION_S} s)`);
        const spec: OpenLoopSpec = { url: target, bodies, rate, durationS: DURATION_S, warmupS: WARMUP_S };
        const run = () => loadProcess<OpenLoopResult>('open', spec, dir);
        open.push({ name, rate, ...(await measured(pid, run, (r) => r.total)) });
      }
    }
    const max: Record<string, { r: MaxResult; cpuUs?: number }> = {};
    for (const [name, target, pid] of targets) {
      log(`${name}: maximum throughput (autocannon -c ${MAX_CONNECTIONS}, ${MAX_DURATION_S} s)`);
      const spec: MaxSpec = { url: target, body: bodies[1], connections: MAX_CONNECTIONS, durationS: MAX_DURATION_S };
      max[name] = await measured(
        pid,
        () => loadProcess<MaxResult>('max', spec, dir),
        (r) => r.requests,
      );
    }

    const f = (x: number, d = 2) => x.toFixed(d);
    const us = (x: number | undefined) => (x === undefined ? '' : x.toFixed(0));
    const lines = [
      `Flights GBDT (100 trees, 31 leaves, ${ROWS} rows), single-row requests, loopback, ${os.cpus().length} cores ` +
        `(${os.cpus()[0]?.model.trim()}), load average ${os.loadavg()[0].toFixed(1)} at the end.`,
      '',
      '| what | load | p50 ms | p99 ms | max ms | throughput req/s | server CPU µs/req | failed |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      `| compute: session.run in-process, 1 thread | sequential | ${f(compute1.p50Ms, 3)} | ${f(compute1.p99Ms, 3)} | | ${f(compute1.throughput, 0)} | | |`,
      `| compute: session.run in-process, 2 threads | sequential | ${f(compute2.p50Ms, 3)} | ${f(compute2.p99Ms, 3)} | | ${f(compute2.throughput, 0)} | | |`,
      ...open.map(
        ({ name, rate, r, cpuUs }) =>
          `| ${name} | open loop ${rate} req/s | ${f(r.p50Ms)} | ${f(r.p99Ms)} | ${f(r.maxMs)} | ${f(r.throughput, 0)} | ${us(cpuUs)} | ${r.failed} |`,
      ),
      ...Object.entries(max).map(
        ([name, { r, cpuUs }]) =>
          `| ${name} | autocannon -c ${MAX_CONNECTIONS} | ${f(r.p50Ms)} | ${f(r.p99Ms)} | | ${f(r.requestsPerSecond, 0)} | ${us(cpuUs)} | ${r.errors + r.non2xx} |`,
      ),
    ];
    const ours500 = open.find((o) => o.rate === 500 && o.name === 'mlpipe serve')!.r;
    const bare500 = open.find((o) => o.rate === 500 && o.name === 'bare node:http')!.r;
    const ratio = max['mlpipe serve'].r.requestsPerSecond / max['bare node:http'].r.requestsPerSecond;
    const mark = (ok: boolean) => (ok ? 'met' : 'NOT met');
    lines.push(
      '',
      `- p99 at 500 req/s: ${f(ours500.p99Ms)} ms (goal ≤ 5 ms: ${mark(ours500.p99Ms <= 5)})`,
      `- p99 vs the bare server at 500 req/s: ${f(ours500.p99Ms / bare500.p99Ms)}x (goal ≤ 1.5x: ${mark(ours500.p99Ms <= 1.5 * bare500.p99Ms)})`,
      `- maximum throughput: ${f(ratio * 100, 0)}% of the bare server's (goal ≥ 60%: ${mark(ratio >= 0.6)})`,
      ...(max['mlpipe serve'].cpuUs && max['bare node:http'].cpuUs
        ? [
            `- server CPU per request at maximum throughput: ${us(max['mlpipe serve'].cpuUs)} µs vs ${us(max['bare node:http'].cpuUs)} µs bare ` +
              `(${f(max['mlpipe serve'].cpuUs / max['bare node:http'].cpuUs)}x)`,
          ]
        : []),
      `- bench took ${f((performance.now() - started) / 1000, 0)} s`,
    );
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    for (const child of children.reverse()) await child.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
