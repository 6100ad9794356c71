import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

export interface ManagedProcessOptions {
  /** Short name used in messages, e.g. "temporal". */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Combined stdout/stderr is appended here (never to the terminal, so no secret lands in a console). */
  logFile?: string;
}

/** A child process with a log file, readiness waiting and a stop that escalates from SIGTERM to SIGKILL. */
export class ManagedProcess {
  readonly child: ChildProcess;
  /** Settles when the process exits, for whatever reason. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stopping = false;
  private output = '';

  constructor(readonly opts: ManagedProcessOptions) {
    const log = opts.logFile ? fs.createWriteStream(opts.logFile, { flags: 'a' }) : undefined;
    this.child = spawn(opts.command, opts.args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer) => {
      log?.write(d);
      // Keep a bounded tail for error messages.
      this.output = (this.output + d.toString()).slice(-8000);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => {
        this.output += `\n${err.message}`;
        resolve({ code: -1, signal: null });
      });
      this.child.once('exit', (code, signal) => {
        log?.end();
        resolve({ code, signal });
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /** The last lines the process printed (for error messages). */
  tail(lines = 20): string {
    return this.output.trim().split('\n').slice(-lines).join('\n');
  }

  /** Resolves when `probe` succeeds; rejects if the process exits first or the deadline passes. */
  async waitReady(probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    while (Date.now() < deadline) {
      if (exited) {
        throw new Error(`${this.opts.name} exited during start-up:\n${this.tail()}`);
      }
      if (await probe().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.opts.name} was not ready after ${timeoutMs} ms:\n${this.tail()}`);
  }

  /** Waits for a stdout/stderr line matching `pattern` and returns it. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      let buffer = '';
      const onData = (d: Buffer) => {
        buffer += d.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) {
          if (pattern.test(line)) {
            cleanup();
            resolve(line);
          }
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.opts.name} was not ready after ${timeoutMs} ms:\n${this.tail()}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.child.stdout!.off('data', onData);
        this.child.stderr!.off('data', onData);
      };
      this.child.stdout!.on('data', onData);
      this.child.stderr!.on('data', onData);
      void this.exited.then(() => {
        cleanup();
        reject(new Error(`${this.opts.name} exited during start-up:\n${this.tail()}`));
      });
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves once the process is gone. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Immediate SIGKILL (used by crash tests). */
  async kill(): Promise<void> {
    this.stopping = true;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
