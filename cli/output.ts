/** Human-facing output of the CLI: colour only on a TTY (and never with NO_COLOR). */
const useColor = (stream: NodeJS.WriteStream) => Boolean(stream.isTTY) && !process.env.NO_COLOR;

const paint = (code: number) => (s: string) => (useColor(process.stderr) ? `\x1b[${code}m${s}\x1b[0m` : s);
export const bold = paint(1);
export const dim = paint(2);
export const red = paint(31);
export const green = paint(32);
export const yellow = paint(33);
export const cyan = paint(36);

/** Progress and status lines go to stderr so stdout stays machine-readable. */
export const say = (msg: string) => process.stderr.write(`${msg}\n`);
