import { ALL_CHECKS, type CheckContext } from './checks';
import type { DefinitionIssue, Finding, SourceMap } from './issues';
import { PipelineSchema, type Pipeline } from './schema';

export { formatIssue, formatIssues, formatPath } from './issues';
export type { DefinitionIssue, SourceMap } from './issues';

export interface ValidateOptions {
  /** Positions of the file the definition came from, so issues carry `file:line:col`. */
  source?: SourceMap;
  /** Pipelines a `pipeline` step may run; when given, unknown names are issues. */
  knownPipelines?: readonly string[];
}

export type ValidationResult = { ok: true; definition: Pipeline } | { ok: false; issues: DefinitionIssue[] };

function place(finding: Finding, source: SourceMap | undefined): DefinitionIssue {
  const { at, ...issue } = finding;
  if (!source) return issue;
  const pos = issue.line === undefined ? source.locate(issue.path, at ?? 'value') : undefined;
  return {
    ...issue,
    ...(pos ? { line: pos.line, column: pos.column } : {}),
    ...(source.file !== undefined ? { file: source.file } : {}),
  };
}

/** Every path in a value, numbered depth first: the order a reader meets them. */
function documentOrder(raw: unknown): Map<string, number> {
  const order = new Map<string, number>();
  const walk = (v: unknown, path: (string | number)[]) => {
    order.set(JSON.stringify(path), order.size);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
  };
  walk(raw, []);
  return order;
}

/**
 * Validates a definition: the schema and every static check (needs exist, no cycles, expressions parse and read
 * only declared params and upstream steps, step inputs fit their type, ...). Reports every problem at once, sorted
 * by line when positions are known.
 *
 * @returns the normalised definition, or the issues.
 * @example
 * const result = validateDefinition(YAML.parse(text));
 * if (!result.ok) console.error(formatIssues(result.issues));
 */
export function validateDefinition(raw: unknown, options: ValidateOptions = {}): ValidationResult {
  const ctx: CheckContext = { raw, source: options.source, knownPipelines: options.knownPipelines };
  const seen = new Set<string>();
  const issues = ALL_CHECKS.flatMap((check) => check(ctx))
    .map((f) => place(f, options.source))
    .filter((i) => {
      const key = JSON.stringify([i.path, i.message]);
      return seen.has(key) ? false : (seen.add(key), true);
    });
  // By line when known, otherwise in the order the definition is written; ties keep check order.
  const order = documentOrder(raw);
  const rank = (i: DefinitionIssue) => {
    for (let n = i.path.length; n >= 0; n--) {
      const r = order.get(JSON.stringify(i.path.slice(0, n)));
      if (r !== undefined) return r;
    }
    return 0;
  };
  issues.sort(
    (a, b) =>
      (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER) ||
      (a.column ?? 0) - (b.column ?? 0) ||
      rank(a) - rank(b),
  );
  if (issues.length) return { ok: false, issues };
  return { ok: true, definition: PipelineSchema.parse(raw) };
}
