/**
 * The configuration a launcher starts from. Without any source (no YAML file, no
 * DASK_MPI_TS_CONFIG, no config environment variable) that is the defaults, and neither zod
 * nor the YAML parser is loaded: start-up time of every MPI rank is a benchmarked target.
 * With a source, the whole layer loads and validates once (load.ts).
 */
import { DEFAULT_CONFIG } from "./defaults.js";
import type { LoadConfigOptions } from "./load.js";
import type { Config } from "./schema.js";
import { configSourcesExist, type SourceOptions } from "./sources.js";

export interface StartupConfig {
  /** Validated and normalized: durations in ms, sizes in bytes. */
  values: Config;
  /** Where each leaf's value came from, by dotted key; a key not here is a default. */
  origins: Record<string, string>;
}

/**
 * Reads, merges and validates the configuration sources (flags are the launcher's to apply on
 * top), and `overrides` last (e.g. `--worker-options`, validated with the same schema). Throws
 * ConfigError naming the key, the bad value and its source.
 * @example const { values } = await startupConfig(); values.distributed.worker.nthreads // 1
 */
export async function startupConfig(options: SourceOptions & Pick<LoadConfigOptions, "overrides"> = {}): Promise<StartupConfig> {
  if (!options.overrides && !configSourcesExist(options)) return { values: DEFAULT_CONFIG, origins: {} };
  const { loadConfig } = await import("./load.js");
  const { values, origins } = loadConfig(options);
  return { values, origins };
}

/** Where `key`'s value came from: `"default"`, a file, `"env NAME"`. */
export function originOf(config: StartupConfig, key: string): string {
  return config.origins[key] ?? "default";
}
