import net from 'node:net';

export interface PortClaim {
  host: string;
  port: number;
  /** What wants the port, e.g. "Temporal frontend". */
  what: string;
  /** How a user moves it, e.g. "--temporal-port or TEMPORAL_ADDRESS". */
  change: string;
}

/** Thrown before anything starts when a port the stack needs is taken. */
export class PortInUse extends Error {
  override readonly name = 'PortInUse';
}

function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Checks every claim and reports all taken ports at once, naming the flag that moves each. */
export async function assertPortsFree(claims: PortClaim[]): Promise<void> {
  const taken: string[] = [];
  for (const c of claims) {
    if (c.port === 0) continue;
    if (!(await canListen(c.host, c.port))) {
      taken.push(`port ${c.host}:${c.port} (${c.what}) is already in use; change it with ${c.change}`);
    }
  }
  if (taken.length) throw new PortInUse(taken.join('\n'));
}

/** A port the OS says is free right now (for tests and isolated stacks). */
export function getFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
