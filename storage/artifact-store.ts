import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type * as Minio from 'minio';

export interface PutResult {
  /** `s3://bucket/key` or `file:///abs/path`. */
  uri: string;
  sha256: string;
  size: number;
}

/**
 * Where artifacts live: datasets, models, logs, cached step outputs. Keys are relative paths; the store adds the
 * bucket or root. Writes to the same key overwrite, which keeps retried activities idempotent.
 */
export interface ArtifactStore {
  put(key: string, body: Buffer | string, opts?: { contentType?: string }): Promise<PutResult>;
  putFile(key: string, file: string, opts?: { contentType?: string }): Promise<PutResult>;
  get(key: string): Promise<Buffer>;
  /** `undefined` when the key does not exist. */
  tryGet(key: string): Promise<Buffer | undefined>;
  exists(key: string): Promise<boolean>;
  /** Keys under `prefix` (recursively), in lexicographic order; with `startAfter`, only the keys after it. */
  list(prefix: string, opts?: { startAfter?: string }): Promise<string[]>;
  uri(key: string): string;
}

/** Thrown when the store cannot be reached; names the endpoint, never the credentials. */
export class StoreUnavailable extends Error {
  override readonly name = 'StoreUnavailable';
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export class S3ArtifactStore implements ArtifactStore {
  constructor(
    private readonly client: Minio.Client,
    readonly bucket: string,
    private readonly endpoint = 'the S3 endpoint',
  ) {}

  uri(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  async put(key: string, body: Buffer | string, opts: { contentType?: string } = {}): Promise<PutResult> {
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    const digest = sha256(buf);
    await this.wrap(`put ${key}`, () =>
      this.client.putObject(this.bucket, key, buf, buf.length, {
        'Content-Type': opts.contentType ?? 'application/octet-stream',
        'x-amz-meta-sha256': digest,
      }),
    );
    return { uri: this.uri(key), sha256: digest, size: buf.length };
  }

  async putFile(key: string, file: string, opts: { contentType?: string } = {}): Promise<PutResult> {
    return this.put(key, await fs.promises.readFile(file), opts);
  }

  async get(key: string): Promise<Buffer> {
    const stream = await this.wrap(`get ${key}`, () => this.client.getObject(this.bucket, key));
    const chunks: Buffer[] = [];
    for await (const c of stream as Readable) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  async tryGet(key: string): Promise<Buffer | undefined> {
    try {
      return await this.get(key);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.wrap(`stat ${key}`, () => this.client.statObject(this.bucket, key));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async list(prefix: string, opts: { startAfter?: string } = {}): Promise<string[]> {
    return this.wrap(`list ${prefix}`, async () => {
      const keys: string[] = [];
      const stream = this.client.listObjectsV2(this.bucket, prefix, true, opts.startAfter ?? '');
      for await (const item of stream as AsyncIterable<{ name?: string }>) if (item.name) keys.push(item.name);
      return keys.sort();
    });
  }

  private async wrap<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (e.code && /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|ECONNRESET|EHOSTUNREACH/.test(e.code)) {
        throw new StoreUnavailable(`object store ${this.endpoint} unreachable (${e.code}) during ${what}`);
      }
      throw err;
    }
  }
}

function isNotFound(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'NoSuchKey' || code === 'NotFound' || code === 'ENOENT';
}

/** A directory-backed store behind the same interface (`file://` URIs), for single-machine use without S3. */
export class FileArtifactStore implements ArtifactStore {
  constructor(readonly root: string) {}

  uri(key: string): string {
    return `file://${path.resolve(this.root, key)}`;
  }

  private file(key: string): string {
    const p = path.resolve(this.root, key);
    if (!p.startsWith(path.resolve(this.root) + path.sep)) throw new Error(`artifact key escapes the store: ${key}`);
    return p;
  }

  async put(key: string, body: Buffer | string): Promise<PutResult> {
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    const p = this.file(key);
    await fs.promises.mkdir(path.dirname(p), { recursive: true });
    // Write then rename: a reader never sees half a file.
    const tmp = `${p}.${process.pid}.tmp`;
    await fs.promises.writeFile(tmp, buf);
    await fs.promises.rename(tmp, p);
    return { uri: this.uri(key), sha256: sha256(buf), size: buf.length };
  }

  async putFile(key: string, file: string): Promise<PutResult> {
    return this.put(key, await fs.promises.readFile(file));
  }

  async get(key: string): Promise<Buffer> {
    return fs.promises.readFile(this.file(key));
  }

  async tryGet(key: string): Promise<Buffer | undefined> {
    try {
      return await this.get(key);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    return fs.promises.access(this.file(key)).then(
      () => true,
      () => false,
    );
  }

  async list(prefix: string, opts: { startAfter?: string } = {}): Promise<string[]> {
    const root = path.resolve(this.root);
    const keys: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      const entries = await fs.promises.readdir(dir, { withFileTypes: true }).catch((err: unknown) => {
        if (isNotFound(err)) return [];
        throw err;
      });
      for (const entry of entries) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (!entry.name.endsWith('.tmp')) keys.push(path.relative(root, full).split(path.sep).join('/'));
      }
    };
    await walk(root);
    return keys.filter((k) => k.startsWith(prefix) && (opts.startAfter === undefined || k > opts.startAfter)).sort();
  }
}
