/** Exit codes of every command, documented in `mlpipe --help`. */
export const EXIT = { ok: 0, failed: 1, usage: 2, unavailable: 3 } as const;
