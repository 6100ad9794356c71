import { DEFAULT_S3_ENDPOINT, loadConfig, type MlpipeConfig } from '../config/env';
import { S3ArtifactStore } from '../storage/artifact-store';
import {
  createModelRegistry,
  type AliasChange,
  type AliasState,
  type AliasUpdate,
  type ModelRegistry,
  type ModelSummary,
  type ModelVersion,
} from '../storage/registry';
import { createS3Client } from '../storage/s3-client';

export interface ModelsClientOptions {
  /** Full config; read from the environment when omitted. */
  config?: MlpipeConfig;
  /** @default MLPIPE_S3_ENDPOINT or http://127.0.0.1:9000 */
  s3Endpoint?: string;
}

export interface PromoteOptions {
  /** @default production */
  alias?: string;
  reason?: string;
  /** Who promotes, recorded in the history. */
  by?: string;
  /** Promote only if the alias points at this version now (`null`: only if it is not set). */
  expectedVersion?: number | null;
}

/** A model with its versions (oldest first) and the aliases that are set. */
export interface ModelDetails {
  name: string;
  versions: ModelVersion[];
  aliases: AliasState[];
}

/**
 * The model registry from your own services: list, show, promote, history.
 *
 * @example
 * const models = ModelsClient.fromConfig();
 * const { versions } = await models.show('flights-delay');
 * await models.promote('flights-delay', versions.at(-1)!.version, { reason: 'weekly retrain', by: 'ci' });
 */
export class ModelsClient {
  constructor(readonly registry: ModelRegistry) {}

  /** A client on the bucket that `MLPIPE_S3_*` (or `config.s3`) names. */
  static fromConfig(opts: ModelsClientOptions = {}): ModelsClient {
    const config = opts.config ?? loadConfig();
    const endpoint = opts.s3Endpoint ?? config.s3.endpoint ?? DEFAULT_S3_ENDPOINT;
    const client = createS3Client({ ...config.s3, endpoint });
    const store = new S3ArtifactStore(client, config.s3.bucket, endpoint);
    return new ModelsClient(createModelRegistry({ client, bucket: config.s3.bucket, store, endpoint }));
  }

  /** Every model with its version count, latest version and aliases. */
  list(): Promise<ModelSummary[]> {
    return this.registry.listModels();
  }

  /** Every version and alias of a model. @throws ModelNotFound */
  async show(name: string): Promise<ModelDetails> {
    const [versions, aliases] = await Promise.all([this.registry.listVersions(name), this.registry.listAliases(name)]);
    return { name, versions, aliases };
  }

  /** One version: ONNX URI and sha256, model card, lineage. @throws ModelNotFound */
  version(name: string, version: number): Promise<ModelVersion> {
    return this.registry.getVersion(name, version);
  }

  /** Points an alias (default `production`) at a version. @throws AliasConflict when it moved concurrently */
  promote(name: string, version: number, opts: PromoteOptions = {}): Promise<AliasUpdate> {
    const { alias = 'production', ...rest } = opts;
    return this.registry.setAlias(name, alias, version, rest);
  }

  /** Every alias change of a model, oldest first. */
  history(name: string, opts: { alias?: string } = {}): Promise<AliasChange[]> {
    return this.registry.aliasHistory(name, opts);
  }

  /** The version an alias served at a given time. */
  versionAt(name: string, alias: string, time: Date | string | number): Promise<number | undefined> {
    return this.registry.versionAt(name, alias, time);
  }
}
