import { formatIssues, loadDefinitionFile } from '../definitions/node';
import { green, red, say } from './output';
import { EXIT } from './exit-codes';

/** `mlpipe validate <files...>`: every problem in every file, exit 1 if any. */
export async function validateCommand(files: string[], opts: { json: boolean }): Promise<number> {
  const results = [];
  for (const file of files) results.push(await loadDefinitionFile(file));
  const bad = results.filter((r) => !r.ok);
  if (opts.json) {
    process.stdout.write(
      `${JSON.stringify(
        results.map((r) => ({ file: r.file, ok: r.ok, issues: r.issues })),
        null,
        2,
      )}\n`,
    );
  } else {
    for (const r of results) {
      if (r.ok) say(`${green('✓')} ${r.file}`);
      else {
        say(`${red('✗')} ${r.file}`);
        say(formatIssues(r.issues));
      }
    }
  }
  return bad.length ? EXIT.failed : EXIT.ok;
}
