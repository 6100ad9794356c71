/** Source formats and URI schemes of the ingest step. Pure, so the step's input schema can use them anywhere. */

export const DATA_FORMATS = ['parquet', 'csv', 'json', 'ndjson', 'arrow'] as const;
export type DataFormat = (typeof DATA_FORMATS)[number];

/** URI schemes a source may use. */
export const SOURCE_PATTERN = /^(npm|file|s3):\/\/./;

const EXTENSIONS: Record<string, DataFormat> = {
  parquet: 'parquet',
  pq: 'parquet',
  csv: 'csv',
  json: 'json',
  ndjson: 'ndjson',
  jsonl: 'ndjson',
  arrow: 'arrow',
  feather: 'arrow',
  ipc: 'arrow',
};

/** The format a URI's extension names, or undefined. */
export function formatFromExtension(uri: string): DataFormat | undefined {
  const m = /\.([A-Za-z0-9]+)$/.exec(uri.replace(/[?#].*$/, ''));
  const ext = m?.[1].toLowerCase();
  return ext !== undefined && Object.hasOwn(EXTENSIONS, ext) ? EXTENSIONS[ext] : undefined;
}
