import fs from 'node:fs';
import { listPipelines, loadDefinitionFile, type LoadResult } from '../definitions/load';

/** A pipeline file in the catalog's folders, loaded and validated. */
export interface CatalogEntry {
  name: string;
  file: string;
  result: LoadResult;
}

/** The pipelines the API may start and the triggers that watch for data: definitions read from folders. */
export interface PipelineCatalog {
  /** Folders searched, first first (a name in an earlier folder wins). */
  readonly dirs: readonly string[];
  /** Every pipeline in the folders, by name, each loaded and validated. */
  list(): Promise<CatalogEntry[]>;
  /** Pipeline `name`, or undefined when no file defines it. */
  find(name: string): Promise<CatalogEntry | undefined>;
}

/**
 * A catalog over `dirs` (as the workers search them: `MLPIPE_PIPELINE_PATH`, `./pipelines`, the shipped ones).
 * Each file is parsed again only when its modification time or size changes, so a request costs a `stat` per file.
 *
 * @example
 * const catalog = createPipelineCatalog({ dirs: [...config.pipelinePath, ...defaultPipelineDirs()] });
 * const hello = await catalog.find('hello');
 */
export function createPipelineCatalog(opts: { dirs: readonly string[] }): PipelineCatalog {
  const cache = new Map<string, { stamp: string; result: LoadResult }>();

  const load = async (file: string, known: string[]): Promise<LoadResult> => {
    let stamp: string;
    try {
      const st = await fs.promises.stat(file);
      stamp = `${st.mtimeMs}:${st.size}:${known.join(',')}`;
    } catch {
      return { ok: false, file, issues: [{ path: [], file, message: `cannot read ${file}` }] };
    }
    const hit = cache.get(file);
    if (hit?.stamp === stamp) return hit.result;
    const result = await loadDefinitionFile(file, { knownPipelines: known });
    cache.set(file, { stamp, result });
    return result;
  };

  const entries = async (only?: string): Promise<CatalogEntry[]> => {
    const all = listPipelines(opts.dirs);
    const known = all.map((p) => p.name);
    const wanted = only === undefined ? all : all.filter((p) => p.name === only);
    return Promise.all(wanted.map(async ({ name, file }) => ({ name, file, result: await load(file, known) })));
  };

  return {
    dirs: opts.dirs,
    list: () => entries(),
    find: async (name) => (await entries(name))[0],
  };
}
