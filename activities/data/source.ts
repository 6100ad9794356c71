/**
 * Where a dataset comes from: `npm://<package>/<path>` (a file shipped in an installed npm package),
 * `file:///abs/path`, or `s3://bucket/key` read through the worker's artifact store.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ArtifactStore } from '../../storage/artifact-store';
import { IngestInputError } from './collect';
import { DATA_FORMATS, formatFromExtension, type DataFormat } from './formats';

/** A source opened for reading: a local file, or the bytes of an object. */
export type OpenedSource = { uri: string; file: string } | { uri: string; bytes: Buffer };

/**
 * The format of a source: `declared` if given, else its extension.
 *
 * @throws IngestInputError when neither says.
 */
export function formatOf(uri: string, declared?: DataFormat): DataFormat {
  if (declared) return declared;
  const format = formatFromExtension(uri);
  if (!format) {
    throw new IngestInputError(
      `cannot tell the format of ${uri} from its extension: set format (${DATA_FORMATS.join(', ')})`,
    );
  }
  return format;
}

/**
 * The path of a file inside an installed npm package: `vega-datasets/data/flights-3m.parquet`,
 * `@scope/pkg/file.csv`. Found through Node's resolution paths, so packages whose `exports` hide package.json
 * (vega-datasets does) work too.
 *
 * @throws IngestInputError when the package is not installed, the file is absent, or the path leaves the package.
 */
export function resolveNpmFile(spec: string): string {
  const parts = spec.split('/');
  const nameParts = parts[0].startsWith('@') ? 2 : 1;
  const name = parts.slice(0, nameParts).join('/');
  const rest = parts.slice(nameParts).join('/');
  if (!name || !rest) throw new IngestInputError(`npm://${spec}: expected npm://<package>/<path inside it>`);
  let root: string | undefined;
  try {
    root = path.dirname(require.resolve(`${name}/package.json`));
  } catch {
    for (const dir of require.resolve.paths(name) ?? []) {
      if (fs.existsSync(path.join(dir, name, 'package.json'))) {
        root = path.join(dir, name);
        break;
      }
    }
  }
  if (!root) throw new IngestInputError(`npm://${spec}: package "${name}" is not installed on this worker`);
  const file = path.resolve(root, rest);
  if (!file.startsWith(root + path.sep)) throw new IngestInputError(`npm://${spec}: path leaves the package`);
  if (!fs.existsSync(file)) throw new IngestInputError(`npm://${spec}: no file ${rest} in package "${name}"`);
  return file;
}

/**
 * Opens a source: local files stay files (readers stream them); `s3://` objects are fetched through the store.
 *
 * @throws IngestInputError for an unknown scheme, a missing file, or a bucket other than the store's.
 */
export async function openSource(uri: string, store: ArtifactStore): Promise<OpenedSource> {
  if (uri.startsWith('npm://')) return { uri, file: resolveNpmFile(uri.slice('npm://'.length)) };
  if (uri.startsWith('file://')) {
    let file: string;
    try {
      file = fileURLToPath(uri);
    } catch (err) {
      throw new IngestInputError(`${uri}: ${(err as Error).message}`);
    }
    if (!fs.existsSync(file)) throw new IngestInputError(`${uri}: no such file on this worker`);
    return { uri, file };
  }
  if (uri.startsWith('s3://')) {
    // The store knows its bucket: a key is ours when the store's URI for it is this URI.
    const prefix = store.uri('');
    if (!uri.startsWith(prefix)) {
      throw new IngestInputError(`${uri}: not in this worker's artifact store (${prefix}...)`);
    }
    const bytes = await store.tryGet(uri.slice(prefix.length));
    if (!bytes) throw new IngestInputError(`${uri}: no such object`);
    return { uri, bytes };
  }
  throw new IngestInputError(`${uri}: unknown source scheme, use npm://, file:// or s3://`);
}
