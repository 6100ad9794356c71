import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import type { Hono } from 'hono';
import { PortInUse } from '../cli/ports';

export interface ApiServerOptions {
  /** What it serves, e.g. {@link createApiApp}'s result. */
  app: Pick<Hono<any>, 'fetch'>;
  /** 0 = a free port (tests). @default 8090 */
  port?: number;
  /** @default 127.0.0.1 */
  host?: string;
  /** How long `close` lets open requests finish before it drops the connections. @default 5000 */
  closeGraceMs?: number;
}

export interface ApiServer {
  /** e.g. http://127.0.0.1:8090 */
  url: string;
  port: number;
  host: string;
  /** Stops accepting, lets open requests finish (up to the grace period), then closes every connection. */
  close(): Promise<void>;
}

/** Default port of `mlpipe api`. */
export const DEFAULT_API_PORT = 8090;

/**
 * Serves an app on a port (Node's http server through @hono/node-server).
 *
 * @example
 * const server = await startApiServer({ app: createApiApp(deps), port: 8090 });
 * process.once('SIGTERM', () => void server.close());
 */
export function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const host = opts.host ?? '127.0.0.1';
  const server = createAdaptorServer({ fetch: opts.app.fetch, hostname: host }) as Server;
  // Slow clients cannot hold a connection open forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new PortInUse(
              `port ${host}:${opts.port ?? DEFAULT_API_PORT} (mlpipe API) is already in use; change it with --port`,
            )
          : err,
      );
    });
    server.listen(opts.port ?? DEFAULT_API_PORT, host, () => {
      const { port } = server.address() as AddressInfo;
      const shown = host.includes(':') ? `[${host}]` : host;
      resolve({
        url: `http://${shown}:${port}`,
        port,
        host,
        close: () =>
          new Promise<void>((done) => {
            const timer = setTimeout(() => server.closeAllConnections(), opts.closeGraceMs ?? 5000);
            server.close(() => {
              clearTimeout(timer);
              done();
            });
            server.closeIdleConnections();
          }),
      });
    });
  });
}
