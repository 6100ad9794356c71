import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { describe, expect, inject, it } from 'vitest';
import { ModelsClient } from '../client/models';
import {
  modelsHistoryCommand,
  modelsListCommand,
  modelsPromoteCommand,
  modelsShowCommand,
  registerModelCommands,
} from '../cli/models';
import { EXIT } from '../cli/exit-codes';
import { loadConfig } from '../config/env';
import { FileArtifactStore } from '../storage/artifact-store';
import { DatasetIntegrityError, DatasetNotFound, getDataset, parseS3Uri, putDataset } from '../storage/datasets';
import {
  AliasConflict,
  createModelRegistry,
  ModelIntegrityError,
  ModelNotFound,
  RegistryInputInvalid,
  VersionConflict,
  type ModelRegistry,
} from '../storage/registry';
import { testS3, uniqueId } from './helpers';

const stack = inject('stack');
const { client, store } = testS3();
const registry = createModelRegistry({ client, bucket: stack.bucket, store, endpoint: stack.s3Endpoint });

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Uploads stand-in ONNX bytes (the registry never parses them) the way the train step does. */
async function upload(content = uniqueId('onnx')) {
  const put = await store.put(`test-registry/${uniqueId('model')}.onnx`, Buffer.from(content));
  return { uri: put.uri, sha256: put.sha256 };
}

/** Registers `count` versions of a fresh model from distinct steps, one after another. */
async function modelWithVersions(count: number, reg: ModelRegistry = registry): Promise<string> {
  const name = uniqueId('model');
  for (let i = 1; i <= count; i++) {
    await reg.registerVersion({ name, runId: 'run-a', stepId: `train-${i}`, onnx: await upload(), card: { i } });
  }
  return name;
}

const outcome = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: Error) => ({ ok: false as const, error }),
  );

describe('parseS3Uri', () => {
  it('splits s3://bucket/key and names a bad URI', () => {
    expect(parseS3Uri('s3://mlpipe/models/a/v1.onnx')).toEqual({ bucket: 'mlpipe', key: 'models/a/v1.onnx' });
    expect(() => parseS3Uri('file:///tmp/x')).toThrow(/not an s3:\/\/bucket\/key URI: "file:\/\/\/tmp\/x"/);
    expect(() => parseS3Uri('s3://mlpipe/')).toThrow(TypeError);
  });
});

describe('S3 conditional writes (what the registry relies on)', () => {
  it('minio-js sends If-None-Match / If-Match from putObject metadata and MinIO lets one racer win', async () => {
    const key = `test-registry/${uniqueId('cas')}.json`;
    const put = (body: string, headers: Record<string, string>) =>
      outcome(client.putObject(stack.bucket, key, Buffer.from(body), body.length, headers));
    const created = await Promise.all(Array.from({ length: 10 }, (_, i) => put(`c${i}`, { 'If-None-Match': '*' })));
    expect(created.filter((r) => r.ok)).toHaveLength(1);
    for (const r of created) if (!r.ok) expect(r.error).toMatchObject({ code: 'PreconditionFailed' });

    const { etag } = await client.statObject(stack.bucket, key);
    const moved = await Promise.all(Array.from({ length: 10 }, (_, i) => put(`m${i}`, { 'If-Match': `"${etag}"` })));
    expect(moved.filter((r) => r.ok)).toHaveLength(1);
    for (const r of moved) if (!r.ok) expect(r.error).toMatchObject({ code: 'PreconditionFailed' });
  });
});

describe('model versions', () => {
  it('numbers versions 1, 2, 3 per model name', async () => {
    const a = uniqueId('model');
    const b = uniqueId('model');
    const got = [];
    for (const [name, step] of [
      [a, 's1'],
      [a, 's2'],
      [b, 's1'],
      [a, 's3'],
    ]) {
      got.push(await registry.registerVersion({ name, runId: 'r', stepId: step, onnx: await upload(), card: {} }));
    }
    expect(got.map((g) => g.version)).toEqual([1, 2, 1, 3]);
    expect(got.every((g) => g.created)).toBe(true);
    const versions = await registry.listVersions(a);
    expect(versions.map((v) => [v.version, v.stepId])).toEqual([
      [1, 's1'],
      [2, 's2'],
      [3, 's3'],
    ]);
    expect((await registry.getVersion(b, 1)).runId).toBe('r');
  });

  it('returns the existing version when the same run and step registers again', async () => {
    const name = uniqueId('model');
    const onnx = await upload();
    const input = { name, runId: 'run-1', stepId: 'register', onnx, card: { auc: 0.7 } };
    expect(await registry.registerVersion(input)).toEqual({ version: 1, created: true });
    expect(await registry.registerVersion(input)).toEqual({ version: 1, created: false });
    expect(await registry.registerVersion({ ...input, runId: 'run-2' })).toEqual({ version: 2, created: true });
    expect(await registry.registerVersion(input)).toEqual({ version: 1, created: false });
    expect((await registry.listVersions(name)).length).toBe(2);
    // The same step bringing a different model is a bug in the pipeline, not a retry.
    await expect(registry.registerVersion({ ...input, onnx: await upload() })).rejects.toThrow(VersionConflict);
  });

  it('gives concurrent registrations distinct, gap-free versions, and concurrent retries one version', async () => {
    const name = uniqueId('model');
    const onnx = await Promise.all(Array.from({ length: 10 }, () => upload()));
    const distinct = onnx.map((o, i) =>
      registry.registerVersion({ name, runId: 'r', stepId: `s${i}`, onnx: o, card: {} }),
    );
    // Five attempts of one step racing each other (a timed-out attempt still running beside its retry).
    const retried = Array.from({ length: 5 }, () =>
      registry.registerVersion({ name, runId: 'r', stepId: 'same', onnx: onnx[0], card: {} }),
    );
    const [a, b] = await Promise.all([Promise.all(distinct), Promise.all(retried)]);
    expect(new Set(b.map((r) => r.version)).size).toBe(1);
    expect(b.filter((r) => r.created)).toHaveLength(1);
    const all = [...a.map((r) => r.version), b[0].version].sort((x, y) => x - y);
    expect(all).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect((await registry.listVersions(name)).map((v) => v.version)).toEqual(all);
  });

  it('refuses an ONNX file that is missing or whose sha256 differs', async () => {
    const name = uniqueId('model');
    const missing = { uri: `s3://${stack.bucket}/test-registry/nope.onnx`, sha256: sha256(Buffer.from('x')) };
    await expect(registry.registerVersion({ name, runId: 'r', stepId: 's', onnx: missing, card: {} })).rejects.toThrow(
      ModelNotFound,
    );
    const real = await upload('the real model');
    const lying = { ...real, sha256: sha256(Buffer.from('another model')) };
    const err = await registry
      .registerVersion({ name, runId: 'r', stepId: 's', onnx: lying, card: {} })
      .catch((e) => e);
    expect(err).toBeInstanceOf(ModelIntegrityError);
    expect(err.message).toContain(lying.sha256);
    expect(err.message).toContain(real.sha256);
  });

  it('loads the registered bytes and refuses them after they change', async () => {
    const name = uniqueId('model');
    const onnx = await upload('model bytes v1');
    const { version } = await registry.registerVersion({ name, runId: 'r', stepId: 's', onnx, card: {} });
    expect((await registry.loadModelBytes(name, version)).toString()).toBe('model bytes v1');

    await store.put(parseS3Uri(onnx.uri).key, 'tampered');
    const err = await registry.loadModelBytes(name, version).catch((e: ModelIntegrityError) => e);
    expect(err).toBeInstanceOf(ModelIntegrityError);
    expect(err).toMatchObject({ expected: onnx.sha256, actual: sha256(Buffer.from('tampered')), uri: onnx.uri });
    expect((err as Error).message).toMatch(new RegExp(`${name}" v1: .* has sha256 ${sha256(Buffer.from('tampered'))}`));
  });

  it('says what is missing and where', async () => {
    const name = uniqueId('model');
    await expect(registry.listVersions(name)).rejects.toThrow(new RegExp(`no model "${name}" .*s3://mlpipe/models/`));
    const known = await modelWithVersions(1);
    await expect(registry.getVersion(known, 2)).rejects.toThrow(
      /has no version 2 \(s3:\/\/mlpipe\/models\/.*2\.json\)/,
    );
    await expect(registry.setAlias(known, 'production', 2)).rejects.toThrow(ModelNotFound);
    await expect(registry.setAlias(known, 'Prod!', 1)).rejects.toThrow(RegistryInputInvalid);
    await expect(registry.getVersion('../etc', 1)).rejects.toThrow(RegistryInputInvalid);
  });
});

describe('aliases', () => {
  it('lets exactly one of 10 concurrent promotions win, creating and then moving the alias', async () => {
    const name = await modelWithVersions(10);
    // Everyone read "production is not set" and promotes their own version: If-None-Match decides.
    const first = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        outcome(registry.setAlias(name, 'production', i + 1, { expectedVersion: null, runId: `run-${i}` })),
      ),
    );
    const winners = first.filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    for (const r of first.filter((r) => !r.ok)) expect(r.error).toBeInstanceOf(AliasConflict);
    const won = winners[0].value.change.to!;
    expect((await registry.getAlias(name, 'production'))?.version).toBe(won);

    // Everyone read the same ETag and moves it: If-Match decides.
    const etag = (await registry.getAlias(name, 'production'))!.etag;
    const targets = Array.from({ length: 10 }, (_, i) => i + 1).filter((v) => v !== won);
    const second = await Promise.all(
      targets.map((v) => outcome(registry.setAlias(name, 'production', v, { ifMatch: etag }))),
    );
    expect(second.filter((r) => r.ok)).toHaveLength(1);
    for (const r of second.filter((r) => !r.ok)) {
      expect(r.error).toBeInstanceOf(AliasConflict);
      expect(r.error.message).toMatch(/alias "production" of model ".*" .*re-read the alias/);
    }

    const history = await registry.aliasHistory(name);
    expect(history).toHaveLength(2);
    expect(history[0]).toMatchObject({ alias: 'production', from: null, to: won, seq: 1 });
    expect(history[1]).toMatchObject({ from: won, seq: 2 });
    expect(history[1].to).toBe((await registry.getAlias(name, 'production'))?.version);
  });

  it('serializes promotions without expectations into one consistent history', async () => {
    const name = await modelWithVersions(6);
    const results = await Promise.all(
      [1, 2, 3, 4, 5, 6].map((v) => outcome(registry.setAlias(name, 'candidate', v, { reason: `try v${v}` }))),
    );
    for (const r of results) if (!r.ok) expect(r.error).toBeInstanceOf(AliasConflict);
    const history = await registry.aliasHistory(name, { alias: 'candidate' });
    expect(history).toHaveLength(results.filter((r) => r.ok && r.value.changed).length);
    history.forEach((c, i) => {
      expect(c.seq).toBe(i + 1);
      expect(c.from).toBe(i === 0 ? null : history[i - 1].to);
    });
  });

  it('treats a retried promotion of the same run as done', async () => {
    const name = await modelWithVersions(2);
    await registry.setAlias(name, 'production', 1);
    const first = await registry.setAlias(name, 'production', 2, { runId: 'run-x', expectedVersion: 1 });
    const retry = await registry.setAlias(name, 'production', 2, { runId: 'run-x', expectedVersion: 1 });
    expect(first.changed).toBe(true);
    expect(retry).toMatchObject({ changed: false, change: { changeId: first.change.changeId } });
    await expect(registry.setAlias(name, 'production', 2, { runId: 'run-y', expectedVersion: 1 })).rejects.toThrow(
      AliasConflict,
    );
    expect(await registry.aliasHistory(name)).toHaveLength(2);
  });

  it('answers which version served at a time, across promotions and a removal', async () => {
    let now = Date.parse('2031-03-01T00:00:00.000Z');
    const reg = createModelRegistry({ client, bucket: stack.bucket, store, clock: () => new Date(now) });
    const name = await modelWithVersions(3, reg);
    const t0 = now;
    for (const [dt, v] of [
      [1000, 1],
      [2000, 2],
      [3000, 1],
      [4000, 3],
    ]) {
      now = t0 + dt;
      await reg.setAlias(name, 'production', v, { reason: `step ${dt}` });
    }
    now = t0 + 2500;
    await reg.setAlias(name, 'candidate', 3);
    now = t0 + 5000;
    await reg.removeAlias(name, 'production', { reason: 'incident' });

    const at = (dt: number) => reg.versionAt(name, 'production', new Date(t0 + dt));
    expect(await at(999)).toBeUndefined();
    expect(await at(1000)).toBe(1);
    expect(await at(1999)).toBe(1);
    expect(await at(2000)).toBe(2);
    expect(await at(3500)).toBe(1);
    expect(await at(4000)).toBe(3);
    expect(await at(4999)).toBe(3);
    expect(await at(5000)).toBeUndefined();
    expect(await reg.versionAt(name, 'candidate', new Date(t0 + 2499).toISOString())).toBeUndefined();
    expect(await reg.versionAt(name, 'candidate', t0 + 9000)).toBe(3);
    expect(await reg.getAlias(name, 'production')).toBeUndefined();

    const history = await reg.aliasHistory(name);
    expect(history.map((c) => [c.alias, c.from, c.to])).toEqual([
      ['production', null, 1],
      ['production', 1, 2],
      ['candidate', null, 3],
      ['production', 2, 1],
      ['production', 1, 3],
      ['production', 3, null],
    ]);
    expect(history.at(-1)).toMatchObject({ reason: 'incident', at: new Date(t0 + 5000).toISOString() });
  });

  it('keeps the latest change visible, and repairs the history, when its history entry was never written', async () => {
    const name = await modelWithVersions(2);
    const { change } = await registry.setAlias(name, 'production', 1, { reason: 'first' });
    // Simulate a crash between the alias write and the history write.
    const prefix = `models/${name}/history/`;
    const [entry] = await listKeys(prefix);
    await client.removeObject(stack.bucket, entry);
    expect((await registry.aliasHistory(name)).map((c) => c.changeId)).toEqual([change.changeId]);
    expect(await registry.versionAt(name, 'production', Date.now() + 1000)).toBe(1);

    await registry.setAlias(name, 'production', 2);
    expect(await listKeys(prefix)).toHaveLength(2);
    expect((await registry.aliasHistory(name)).map((c) => c.to)).toEqual([1, 2]);
  });

  it('lists models with their latest version and aliases', async () => {
    const name = await modelWithVersions(3);
    await registry.setAlias(name, 'production', 2);
    await registry.setAlias(name, 'candidate', 3);
    const listed = (await registry.listModels()).find((m) => m.name === name);
    expect(listed).toEqual({ name, versions: 3, latest: 3, aliases: { production: 2, candidate: 3 } });
  });
});

describe('dataset snapshots', () => {
  it('stores identical bytes once, content-addressed', async () => {
    const bytes = Buffer.from(`a,b\n1,2\n${uniqueId('row')}\n`);
    const first = await putDataset(store, bytes, { ext: 'csv', rows: 2, contentType: 'text/csv' });
    const again = await putDataset(store, Buffer.from(bytes), { ext: 'csv', rows: 2 });
    expect(first).toMatchObject({ created: true, sha256: sha256(bytes), size: bytes.length, rows: 2 });
    expect(first.uri).toBe(`s3://${stack.bucket}/datasets/${sha256(bytes)}.csv`);
    expect(again).toEqual({ ...first, created: false });
    expect((await listKeys(`datasets/${first.sha256}`)).sort()).toEqual([
      `datasets/${first.sha256}.csv`,
      `datasets/${first.sha256}.meta.json`,
    ]);

    for (const ref of [first.uri, first.sha256]) {
      const got = await getDataset(store, ref);
      expect(got).toMatchObject({ uri: first.uri, rows: 2, ext: 'csv', contentType: 'text/csv' });
      expect(got.bytes.equals(bytes)).toBe(true);
    }
  });

  it('refuses tampered bytes and names unknown snapshots', async () => {
    const snap = await putDataset(store, Buffer.from(uniqueId('data')), { ext: 'arrow' });
    await store.put(parseS3Uri(snap.uri).key, 'tampered');
    await expect(getDataset(store, snap.sha256)).rejects.toThrow(DatasetIntegrityError);
    await expect(getDataset(store, 'f'.repeat(64))).rejects.toThrow(DatasetNotFound);
    await expect(getDataset(store, `s3://${stack.bucket}/elsewhere/x.csv`)).rejects.toThrow(/not a dataset snapshot/);
  });

  it('works the same on a file:// store', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mlpipe-datasets-'));
    try {
      const local = new FileArtifactStore(root);
      const a = await putDataset(local, Buffer.from('x,y\n'), { ext: 'csv' });
      expect((await putDataset(local, Buffer.from('x,y\n'), { ext: 'csv' })).created).toBe(false);
      expect((await getDataset(local, a.uri)).bytes.toString()).toBe('x,y\n');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('mlpipe models', () => {
  const models = () => new ModelsClient(registry);
  const capture = () => {
    const out: string[] = [];
    return { out, deps: { models, write: (t: string) => void out.push(t) }, json: () => JSON.parse(out.join('')) };
  };

  it('lists, shows, promotes and prints the history, as JSON and as tables', async () => {
    const name = await modelWithVersions(2);
    let c = capture();
    expect(await modelsPromoteCommand(name, 'v1', { alias: 'production', reason: 'first', json: true }, c.deps)).toBe(
      EXIT.ok,
    );
    expect(c.json()).toMatchObject({ changed: true, change: { alias: 'production', from: null, to: 1 } });

    c = capture();
    expect(await modelsPromoteCommand(name, '2', { alias: 'production', expect: '1', json: false }, c.deps)).toBe(
      EXIT.ok,
    );

    c = capture();
    expect(await modelsListCommand({ json: true }, c.deps)).toBe(EXIT.ok);
    expect(c.json()).toContainEqual({ name, versions: 2, latest: 2, aliases: { production: 2 } });

    c = capture();
    expect(await modelsShowCommand(name, { json: false }, c.deps)).toBe(EXIT.ok);
    expect(c.out.join('')).toMatch(/^VERSION +CREATED +RUN \/ STEP +SHA256 +ALIASES\nv1 .*\nv2 .*production\n$/);

    c = capture();
    expect(await modelsShowCommand(name, { version: '2', json: true }, c.deps)).toBe(EXIT.ok);
    expect(c.json()).toMatchObject({ name, version: 2, stepId: 'train-2', card: { i: 2 } });

    c = capture();
    expect(await modelsHistoryCommand(name, { json: true }, c.deps)).toBe(EXIT.ok);
    expect(c.json().map((h: { to: number }) => h.to)).toEqual([1, 2]);
    c = capture();
    expect(await modelsHistoryCommand(name, { json: false }, c.deps)).toBe(EXIT.ok);
    expect(c.out.join('')).toMatch(/^AT +ALIAS +FROM +TO +RUN +BY +REASON\n.*production +- +v1 .*first\n.*v1 +v2/);
  });

  it('exits 1 on a conflict or an unknown model, 2 on bad arguments, 3 when the store is unreachable', async () => {
    const name = await modelWithVersions(2);
    await registry.setAlias(name, 'production', 1);
    let c = capture();
    expect(await modelsPromoteCommand(name, '2', { alias: 'production', expect: 'none', json: true }, c.deps)).toBe(
      EXIT.failed,
    );
    expect(c.json()).toMatchObject({ error: { type: 'AliasConflict' } });
    expect(await modelsShowCommand(uniqueId('nope'), { json: false }, capture().deps)).toBe(EXIT.failed);
    expect(await modelsShowCommand(name, { version: 'latest', json: false }, capture().deps)).toBe(EXIT.usage);
    expect(await modelsPromoteCommand(name, '2', { alias: 'Prod', json: false }, capture().deps)).toBe(EXIT.usage);

    const config = loadConfig({ ...stack.env, MLPIPE_S3_ENDPOINT: 'http://127.0.0.1:1' });
    c = capture();
    const down = { ...c.deps, models: () => ModelsClient.fromConfig({ config }) };
    expect(await modelsListCommand({ json: true }, down)).toBe(EXIT.unavailable);
    expect(c.json().error.message).toMatch(/object store http:\/\/127\.0\.0\.1:1 unreachable/);
  });

  it('wires into a commander program with examples in --help', async () => {
    const name = await modelWithVersions(1);
    const c = capture();
    const program = new Command('mlpipe').exitOverride();
    registerModelCommands(program, c.deps);
    const help = program.commands.find((x) => x.name() === 'models')!;
    expect(help.helpInformation()).toMatch(/list[\s\S]*show[\s\S]*promote[\s\S]*history/);
    const before = process.exitCode;
    try {
      await program.parseAsync(['node', 'mlpipe', 'models', 'promote', name, '1', '--alias', 'candidate', '--json']);
      expect(process.exitCode).toBe(EXIT.ok);
    } finally {
      process.exitCode = before;
    }
    expect(c.json()).toMatchObject({ change: { alias: 'candidate', to: 1 } });
  });

  it('runs as `mlpipe models list --json` against the stack', async () => {
    const name = await modelWithVersions(1);
    const bin = path.join(__dirname, '..', 'bin', 'mlpipe.js');
    const child = spawn(process.execPath, [bin, 'models', 'list', '--json'], {
      env: { ...process.env, ...stack.env, MLPIPE_FROM_SOURCE: '1' },
    });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toContainEqual(expect.objectContaining({ name, latest: 1 }));
  });
});

async function listKeys(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const item of client.listObjectsV2(stack.bucket, prefix, true)) keys.push((item as { name: string }).name);
  return keys;
}
