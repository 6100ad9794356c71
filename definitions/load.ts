import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { projectRoot } from '../config/project-root';
import { isAlias, isMap, isNode, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { DefinitionIssue, DefinitionPath, DuplicateKey, SourceMap, SourcePosition } from './issues';
import { PIPELINE_NAME_PATTERN, type Pipeline } from './schema';
import { validateDefinition } from './validate';

/** File extensions of pipeline definitions, in the order {@link findPipeline} tries them. */
export const DEFINITION_EXTENSIONS = ['.yaml', '.yml', '.json', '.ts', '.mts', '.js'] as const;

/** A definition read from a file (or text) and validated. */
export interface LoadResult {
  ok: boolean;
  /** The validated definition, when `ok`. */
  definition?: Pipeline;
  /** Every problem, each with `file` and, for YAML and JSON, `line` and `column`. */
  issues: DefinitionIssue[];
  file: string;
}

/** A file parsed but not validated. */
export interface ParsedSource {
  /** The parsed value; undefined when the text does not parse. */
  raw?: unknown;
  source: SourceMap;
  /** Syntax errors. */
  issues: DefinitionIssue[];
}

export interface LoadOptions {
  /** Pipelines a `pipeline` step may run; when given, unknown names are issues. */
  knownPipelines?: readonly string[];
}

const pathKey = (p: readonly (string | number)[]) => JSON.stringify(p.map(String));

/** Positions of every key and value in a YAML (or JSON) text, and the keys that appear twice in one mapping. */
function yamlSourceMap(doc: ReturnType<typeof parseDocument>, lines: LineCounter, file?: string): SourceMap {
  const keys = new Map<string, SourcePosition>();
  const values = new Map<string, SourcePosition>();
  const duplicateKeys: DuplicateKey[] = [];
  const at = (offset: number): SourcePosition => {
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };
  const walk = (node: unknown, p: DefinitionPath) => {
    if (!isNode(node) || isAlias(node)) return;
    if (node.range) values.set(pathKey(p), at(node.range[0]));
    if (isMap(node)) {
      const firstLine = new Map<string, number>();
      for (const pair of node.items) {
        const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
        if (key === '<<') continue; // a merge key, not a key of its own
        const child = [...p, key];
        const keyAt = isNode(pair.key) && pair.key.range ? at(pair.key.range[0]) : undefined;
        const first = firstLine.get(key);
        if (first !== undefined && keyAt) duplicateKeys.push({ path: child, ...keyAt, firstLine: first });
        else if (keyAt) firstLine.set(key, keyAt.line);
        // The last of duplicate keys is the one kept, so its positions win.
        if (keyAt) keys.set(pathKey(child), keyAt);
        values.delete(pathKey(child));
        walk(pair.value, child);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...p, i]));
    }
  };
  walk(doc.contents, []);
  return {
    file,
    duplicateKeys,
    locate(target, which = 'value') {
      for (let n = target.length; n >= 0; n--) {
        const k = pathKey(target.slice(0, n));
        const exact = n === target.length && which === 'value' ? values.get(k) : undefined;
        const hit = exact ?? keys.get(k) ?? values.get(k);
        if (hit) return hit;
      }
      return undefined;
    },
  };
}

function positionOf(text: string, offset: number): SourcePosition {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

/**
 * Parses YAML or JSON text, keeping the position of every key and value so that issues can say `file:line:col`.
 * Syntax errors are issues too.
 */
export function parseDefinitionText(
  text: string,
  options: { file?: string; format?: 'yaml' | 'json' } = {},
): ParsedSource {
  const file = options.file;
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, merge: true });
  // Duplicate keys are not syntax errors here: checkUniqueIds reports them, naming the first occurrence.
  const errors = doc.errors.filter((e) => e.code !== 'DUPLICATE_KEY');
  const source = errors.length ? { file, locate: () => undefined } : yamlSourceMap(doc, lines, file);
  const syntaxIssue = (message: string, pos?: SourcePosition): DefinitionIssue => ({
    path: [],
    message,
    ...(pos ?? {}),
    ...(file !== undefined ? { file } : {}),
  });

  if (options.format === 'json') {
    try {
      return { raw: JSON.parse(text) as unknown, source, issues: [] };
    } catch (err) {
      const message = (err as Error).message;
      const offset = /position (\d+)/.exec(message);
      return {
        source,
        issues: [syntaxIssue(`invalid JSON: ${message}`, offset ? positionOf(text, Number(offset[1])) : undefined)],
      };
    }
  }
  if (errors.length) {
    return {
      source,
      issues: errors.map((e) => {
        const { line, col } = lines.linePos(e.pos[0]);
        return syntaxIssue(`invalid YAML: ${e.message}`, { line, column: col });
      }),
    };
  }
  return { raw: doc.toJS({ maxAliasCount: 1000 }) as unknown, source, issues: [] };
}

/** Parses and validates YAML or JSON text (a definition sent to the CLI or over HTTP). */
export function loadDefinitionText(
  text: string,
  options: LoadOptions & { file?: string; format?: 'yaml' | 'json' } = {},
): LoadResult {
  const file = options.file ?? '(text)';
  const parsed = parseDefinitionText(text, { ...options, file });
  if (parsed.issues.length) return { ok: false, issues: parsed.issues, file };
  return validated(parsed.raw, file, parsed.source, options);
}

function validated(raw: unknown, file: string, source: SourceMap | undefined, options: LoadOptions): LoadResult {
  if (raw === null || raw === undefined) {
    return {
      ok: false,
      file,
      issues: [{ path: [], file, message: 'the definition is empty: expected name and steps' }],
    };
  }
  const result = validateDefinition(raw, {
    source: source ?? { file, locate: () => undefined },
    knownPipelines: options.knownPipelines,
  });
  return result.ok
    ? { ok: true, definition: result.definition, issues: [], file }
    : { ok: false, issues: result.issues, file };
}

const nodeRequire = createRequire(__filename);

/** Loads a TypeScript or JavaScript module with tsx; the definition is its default export or its `pipeline`. */
function loadModule(file: string): unknown {
  const { require: tsxRequire } = nodeRequire('tsx/cjs/api') as { require: (id: string, from: string) => unknown };
  const mod = tsxRequire(path.resolve(file), __filename) as Record<string, unknown> | undefined;
  if (mod && typeof mod === 'object') {
    if (mod.default !== undefined) {
      const d = mod.default as Record<string, unknown>;
      // CommonJS interop can nest the default export one level deeper.
      return d && typeof d === 'object' && 'default' in d && !('steps' in d) ? d.default : d;
    }
    if (mod.pipeline !== undefined) return mod.pipeline;
    if ('steps' in mod) return mod;
  }
  return undefined;
}

/**
 * Reads and validates a definition file: `.yaml`/`.yml` and `.json` (issues carry line and column), or a
 * `.ts`/`.mts`/`.js` module whose default export (or `pipeline` export) is the definition.
 *
 * @example
 * const loaded = await loadDefinitionFile('pipelines/train.yaml');
 * if (!loaded.ok) console.error(formatIssues(loaded.issues));
 */
export async function loadDefinitionFile(file: string, options: LoadOptions = {}): Promise<LoadResult> {
  const ext = path.extname(file).toLowerCase();
  const fail = (message: string): LoadResult => ({ ok: false, file, issues: [{ path: [], message, file }] });
  if (!(DEFINITION_EXTENSIONS as readonly string[]).includes(ext)) {
    return fail(`unsupported file type "${ext}": use ${DEFINITION_EXTENSIONS.join(', ')}`);
  }
  if (ext === '.ts' || ext === '.mts' || ext === '.js') {
    if (!fs.existsSync(file)) return fail(`cannot read ${file}: no such file`);
    let raw: unknown;
    try {
      raw = loadModule(file);
    } catch (err) {
      return fail(`cannot load module: ${(err as Error).message.split('\n')[0]}`);
    }
    if (raw === undefined)
      return fail('the module has no default export (nor a "pipeline" export) to use as definition');
    return validated(raw, file, undefined, options);
  }
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (err) {
    return fail(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return loadDefinitionText(text, { ...options, file, format: ext === '.json' ? 'json' : 'yaml' });
}

/** The folder of the pipelines that ship with mlpipe (the YAML stays in the sources; dist/ holds only code). */
function shippedPipelinesDir(): string {
  return path.join(projectRoot(), 'definitions', 'pipelines');
}

/** Where pipelines are looked for by name: `./pipelines` of the working directory, then the shipped ones. */
export function defaultPipelineDirs(): string[] {
  return [path.resolve('pipelines'), shippedPipelinesDir()];
}

/** The file that defines pipeline `name` in `dirs` (first dir first, extensions in {@link DEFINITION_EXTENSIONS} order). */
export function findPipelineFile(name: string, dirs: readonly string[] = defaultPipelineDirs()): string | undefined {
  // The name may come from a workflow input: never let it walk out of the folders.
  if (!PIPELINE_NAME_PATTERN.test(name) || name.includes('..')) return undefined;
  for (const dir of dirs) {
    for (const ext of DEFINITION_EXTENSIONS) {
      const file = path.join(dir, `${name}${ext}`);
      if (fs.existsSync(file)) return file;
    }
  }
  return undefined;
}

/**
 * Finds pipeline `name` in `dirs` and loads it; `pipeline` steps are checked against the other pipelines there.
 *
 * @returns the load result, or undefined when no file defines that name.
 */
export async function findPipeline(
  name: string,
  dirs: readonly string[] = defaultPipelineDirs(),
): Promise<LoadResult | undefined> {
  const file = findPipelineFile(name, dirs);
  if (!file) return undefined;
  return loadDefinitionFile(file, { knownPipelines: listPipelines(dirs).map((p) => p.name) });
}

/** Every pipeline defined in `dirs`, by name (the file name without extension); a name in an earlier dir wins. */
export function listPipelines(dirs: readonly string[] = defaultPipelineDirs()): { name: string; file: string }[] {
  const found = new Map<string, string>();
  for (const dir of dirs) {
    let entries: string[];
    try {
      entries = fs.readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (entry.endsWith('.d.ts') || entry.endsWith('.test.ts')) continue;
      const ext = path.extname(entry);
      if (!(DEFINITION_EXTENSIONS as readonly string[]).includes(ext)) continue;
      const name = entry.slice(0, -ext.length);
      const file = path.join(dir, entry);
      if (!found.has(name) && PIPELINE_NAME_PATTERN.test(name)) found.set(name, file);
    }
  }
  return [...found.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, file]) => ({ name, file }));
}
