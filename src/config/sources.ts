/**
 * Where configuration comes from, found without zod or a YAML parser: the user's directory of
 * YAML files, the path in `DASK_MPI_TS_CONFIG`, and the `DASK_MPI_TS_<SECTION>__...`
 * environment variables. Cheap enough for every process's start-up (a stat, an env scan).
 */
import { readdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { ConfigError } from "../errors.js";
import { DEFAULT_CONFIG } from "./defaults.js";

export const ENV_PREFIX = "DASK_MPI_TS_";
export const ENV_CONFIG_PATH = "DASK_MPI_TS_CONFIG";

export interface SourceOptions {
  /** Home directory holding `.config/dask-mpi-ts/`; default `os.homedir()`. */
  home?: string;
  /** Environment to read `DASK_MPI_TS_*` from; default `process.env`. */
  env?: Record<string, string | undefined>;
}

/** The YAML files to read, in merge order: the user's directory (by name), then DASK_MPI_TS_CONFIG's. */
export function configFiles(options: SourceOptions = {}): string[] {
  const env = options.env ?? process.env;
  const files = yamlFiles(join(options.home ?? homedir(), ".config", "dask-mpi-ts"), false);
  const named = env[ENV_CONFIG_PATH];
  if (named) files.push(...yamlFiles(resolve(named), true));
  return files;
}

/**
 * `DASK_MPI_TS_DISTRIBUTED__WORKER__MEMORY_LIMIT` -> `["distributed", "worker", "memory_limit"]`;
 * undefined for names that are not configuration (DASK_MPI_TS_SECRET, DASK_MPI_TS_ADDON, ...).
 */
export function envConfigPath(name: string): string[] | undefined {
  if (!name.startsWith(ENV_PREFIX) || name === ENV_CONFIG_PATH) return undefined;
  const path = name.slice(ENV_PREFIX.length).toLowerCase().split("__");
  return Object.hasOwn(DEFAULT_CONFIG, path[0]!.replaceAll("_", "-")) ? path : undefined;
}

/**
 * True when some source could change a default: a YAML file, DASK_MPI_TS_CONFIG, or a config
 * environment variable. Without one, the defaults stand and nothing needs validating.
 */
export function configSourcesExist(options: SourceOptions = {}): boolean {
  const env = options.env ?? process.env;
  if (env[ENV_CONFIG_PATH] || Object.keys(env).some((name) => envConfigPath(name))) return true;
  // an unreadable directory counts: loading the configuration reports it
  try {
    return configFiles(options).length > 0;
  } catch {
    return true;
  }
}

/** The `*.yaml`/`*.yml` files of a directory sorted by name, or the one file named. */
function yamlFiles(path: string, named: boolean): string[] {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && !named) return [];
    const what = named ? `${ENV_CONFIG_PATH} names ${path}, which` : `config directory ${path}`;
    throw new ConfigError(`${what} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  if (!isDir) return [path];
  try {
    return readdirSync(path)
      .filter((f) => /\.ya?ml$/i.test(f))
      .sort()
      .map((f) => join(path, f));
  } catch (err) {
    throw new ConfigError(`config directory ${path} cannot be read: ${(err as Error).message}`, { cause: err });
  }
}
