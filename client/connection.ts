import fs from 'node:fs';
import type { MlpipeConfig } from '../config/env';
import { DEFAULT_TEMPORAL_ADDRESS } from '../config/env';

/** Options shared by the client `Connection` and the worker `NativeConnection` (address, TLS, API key). */
export interface TemporalConnectionOptions {
  address: string;
  tls?:
    | boolean
    | {
        serverNameOverride?: string;
        serverRootCACertificate?: Buffer;
        clientCertPair?: { crt: Buffer; key: Buffer };
      };
  apiKey?: string;
}

/** Builds connection options from config; certificate files are read here, at the entry point. */
export function temporalConnectionOptions(
  temporal: MlpipeConfig['temporal'],
  address = temporal.address ?? DEFAULT_TEMPORAL_ADDRESS,
): TemporalConnectionOptions {
  if (!temporal.tls) return { address };
  const tls = {
    serverNameOverride: temporal.tlsServerName,
    serverRootCACertificate: temporal.tlsCa ? fs.readFileSync(temporal.tlsCa) : undefined,
    clientCertPair:
      temporal.tlsCert && temporal.tlsKey
        ? { crt: fs.readFileSync(temporal.tlsCert), key: fs.readFileSync(temporal.tlsKey) }
        : undefined,
  };
  return { address, tls, apiKey: temporal.apiKey };
}
