/** A place in a definition: keys and list indexes from the root, e.g. `['steps', 'train', 'needs', 0]`. */
export type DefinitionPath = (string | number)[];

/** One problem in a definition, with where it is. */
export interface DefinitionIssue {
  path: DefinitionPath;
  /** The step the problem is in, if any. */
  stepId?: string;
  message: string;
  /** 1-based, when the definition came from a file with positions (YAML, JSON). */
  line?: number;
  column?: number;
  file?: string;
}

/** A 1-based line and column. */
export interface SourcePosition {
  line: number;
  column: number;
}

/** A mapping key that appears twice in the same mapping. */
export interface DuplicateKey extends SourcePosition {
  /** Path of the duplicated key (its parent mapping plus the key). */
  path: DefinitionPath;
  /** Line of the first occurrence. */
  firstLine: number;
}

/**
 * Positions of a parsed file, so issues can say `file:line:col`. Built by the loader (load.ts) from the YAML/JSON
 * syntax tree; validation itself stays free of I/O.
 */
export interface SourceMap {
  file?: string;
  /**
   * Where the value at `path` starts (`'value'`), or its key (`'key'`). Paths that do not exist resolve to the
   * nearest ancestor's key, so a missing key points at the mapping that lacks it.
   */
  locate(path: DefinitionPath, at?: 'key' | 'value'): SourcePosition | undefined;
  /** Keys repeated in one mapping: a parser keeps only one of them, so validation must hear of them here. */
  duplicateKeys?: DuplicateKey[];
}

const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/**
 * A path as people write it: `steps.train.needs[0]`, `params["odd key"]`.
 *
 * @example
 * formatPath(['steps', 'train', 'needs', 0]); // 'steps.train.needs[0]'
 */
export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (PLAIN_KEY.test(p)) out += out ? `.${p}` : p;
    else out += `[${JSON.stringify(p)}]`;
  }
  return out;
}

/** One issue as `file:line:col  path: message` (parts that are unknown are left out). */
export function formatIssue(issue: DefinitionIssue): string {
  let where = issue.file ?? '';
  if (issue.line !== undefined) where += `${where ? ':' : ''}${issue.line}:${issue.column ?? 1}`;
  const path = formatPath(issue.path);
  const what = path ? `${path}: ${issue.message}` : issue.message;
  return where ? `${where}  ${what}` : what;
}

/**
 * Issues one per line, ready to print.
 *
 * @example
 * formatIssues(result.issues);
 * // pipelines/train.yaml:12:13  steps.train.needs[0]: unknown step "prep" (did you mean "prepare"?)
 */
export function formatIssues(issues: readonly DefinitionIssue[]): string {
  return issues.map(formatIssue).join('\n');
}

/** An issue before it is placed in a file; `at` says whether it points at the key or at the value (the default). */
export interface Finding extends DefinitionIssue {
  at?: 'key' | 'value';
}
