/**
 * Loads the configuration from its sources, merged in this order (later wins):
 *
 * 1. the schema's defaults
 * 2. `~/.config/dask-mpi-ts/*.yaml|yml`, sorted by name
 * 3. the file, or directory of such files, named by `DASK_MPI_TS_CONFIG`
 * 4. environment variables `DASK_MPI_TS_<SECTION>__<KEY>...` (Dask's style)
 * 5. overrides from the caller (command-line flags)
 *
 * Keys may use `-` or `_` interchangeably. Merging is per leaf key: a value that is itself a
 * mapping or list (`resources`, `job-extra-directives`) is replaced whole, not merged.
 * Unknown keys fail at once, naming their source; values are validated once, on the merged
 * result, and a bad one is reported with its key and the source that set it.
 *
 * Runs on every MPI rank at start-up, so it does only this: list one or two directories, read
 * the few files, scan the environment, one zod parse. No network, no node probing.
 */
import { readFileSync } from "node:fs";
import { loadAll, YAMLException } from "js-yaml";
import { ConfigError } from "../errors.js";
import { type Config, configKeys, configSchema, type RawConfig } from "./schema.js";
import { configFiles, envConfigPath, type SourceOptions } from "./sources.js";

/** One caller-supplied value, e.g. from a flag: `{ path: "distributed.worker.nthreads", value: 4, source: "--nthreads" }`. */
export interface ConfigOverride {
  /** Dotted key; `-` or `_` in names. */
  path: string;
  /** As a user would write it (`"10GB"`, `"30s"`, `false`); `undefined` = not given, skipped. */
  value: unknown;
  /** Named in errors and in `explainConfig`; default `"override"`. */
  source?: string;
}

export interface LoadConfigOptions extends SourceOptions {
  /** Applied last: a list of single values, or a nested object (source `"override"`). */
  overrides?: readonly ConfigOverride[] | Record<string, unknown>;
}

/** The result of `loadConfig`. */
export interface LoadedConfig {
  /** Validated and normalized: durations in ms, sizes in bytes. */
  values: Config;
  /** The merged values as written, defaults included, keys hyphenated. */
  raw: RawConfig;
  /** Where each leaf's value came from, by dotted key: `"default"`, a file path, `"env NAME"`, a flag. */
  origins: Record<string, string>;
  /** The YAML files read, in merge order. */
  files: string[];
}

type Tree = Record<string, unknown>;
const isMapping = (v: unknown): v is Tree => typeof v === "object" && v !== null && !Array.isArray(v);
const show = (v: unknown): string => (v === undefined ? "nothing" : JSON.stringify(v));

/**
 * Reads, merges and validates the configuration. Throws `ConfigError` naming the key, the bad
 * value and its source.
 * @example
 * const { values } = loadConfig({ overrides: [{ path: "distributed.worker.nthreads", value: 4, source: "--nthreads" }] });
 * values.distributed.worker.memory.target;               // 0.6, or false
 * values.distributed.comm.timeouts.connect;              // 30000 (ms)
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const { leaves } = configKeys();
  const raw: Tree = {};
  const origins: Record<string, string> = {};
  for (const k of leaves.values()) setPath(raw, k.path.split("."), structuredClone(k.default));
  for (const path of leaves.keys()) origins[path] = "default";
  const merge = (source: unknown, origin: string, at: string[] = []): void =>
    mergeInto(raw, origins, source, at, origin);

  const files = configFiles(options);
  for (const file of files) merge(readYaml(file), file);

  for (const name of Object.keys(env).sort()) {
    const path = envConfigPath(name);
    if (path) merge(envValue(env[name]!), `env ${name}`, path);
  }

  const { overrides } = options;
  if (Array.isArray(overrides)) {
    for (const o of overrides as readonly ConfigOverride[]) {
      if (o.value !== undefined) merge(o.value, o.source ?? "override", o.path.split("."));
    }
  } else if (overrides) {
    merge(overrides, "override");
  }

  // jitless: this parse runs once per process, and compiling a fast path for it costs ~2x the parse
  const result = configSchema.safeParse(raw, { jitless: true });
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const path = issue.path.map(String);
      // the leaf that holds the issue (an issue inside `resources` names resources)
      while (path.length > 1 && !leaves.has(path.join("."))) path.pop();
      const key = path.join(".");
      const expects = leaves.get(key)?.expects;
      const what = expects ? `must be ${expects}` : issue.message.toLowerCase();
      return `${key} ${what}, got ${show(getPath(raw, path))} (from ${origins[key] ?? "default"})`;
    });
    throw new ConfigError(lines.join("\n"), { cause: result.error });
  }
  return { values: result.data, raw: raw as RawConfig, origins, files };
}

/**
 * Merges `value`, found at key path `at` in `origin`, into `raw`. Checks every key against the
 * schema's tree as it goes, so an unknown key is reported with the source it was written in.
 */
function mergeInto(raw: Tree, origins: Record<string, string>, value: unknown, at: string[], origin: string): void {
  const { leaves, sections } = configKeys();
  const path = at.map((s) => s.replaceAll("_", "-"));
  const dotted = path.join(".");
  if (leaves.has(dotted)) {
    setPath(raw, path, value);
    origins[dotted] = origin;
    return;
  }
  if (!sections.has(dotted)) throw unknownKey(path, origin);
  if (value === null) return; // an empty section (`worker:` with everything commented out)
  if (!isMapping(value)) {
    throw new ConfigError(`${dotted || "the configuration"} must be a mapping of settings, got ${show(value)} (from ${origin})`);
  }
  for (const [k, v] of Object.entries(value)) mergeInto(raw, origins, v, [...path, k], origin);
}

function setPath(tree: Tree, path: string[], value: unknown): void {
  let node = tree;
  for (const k of path.slice(0, -1)) node = (isMapping(node[k]) ? node[k] : (node[k] = {})) as Tree;
  node[path.at(-1)!] = value;
}

function getPath(tree: unknown, path: string[]): unknown {
  return path.reduce<unknown>((node, k) => (isMapping(node) ? node[k] : undefined), tree);
}

function readYaml(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`, { cause: err });
  }
  let docs: unknown[];
  try {
    // loadAll, not load: js-yaml 5's load() throws on a file holding only comments
    docs = loadAll(text, null, { filename: file });
  } catch (err) {
    if (!(err instanceof YAMLException)) throw err;
    const at = err.mark ? ` at line ${err.mark.line + 1}, column ${err.mark.column + 1}` : "";
    throw new ConfigError(`invalid yaml in ${file}${at}: ${err.reason}`, { cause: err });
  }
  if (docs.length > 1) throw new ConfigError(`config file ${file} holds ${docs.length} yaml documents; expected one`);
  return docs[0] ?? null;
}

/** Environment values are YAML scalars, as in Dask: `false`, `0.5`, `"10GB"`, `[a, b]`; else the text. */
function envValue(text: string): unknown {
  try {
    const docs = loadAll(text);
    return docs.length === 1 ? docs[0] : text;
  } catch {
    return text;
  }
}

function unknownKey(path: string[], origin: string): ConfigError {
  const { leaves, sections } = configKeys();
  const name = path.at(-1)!;
  const parent = path.slice(0, -1).join(".");
  const siblings = sections.get(parent) ?? [];
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const s of siblings) {
    const d = editDistance(name, s);
    if (d < bestDistance) [best, bestDistance] = [parent ? `${parent}.${s}` : s, d];
  }
  // a key in the wrong section: `distributed.memory` -> `distributed.worker.memory`, preferring
  // places under the same parent, then the shortest
  const rank = (p: string) => (p.startsWith(`${parent}.`) ? 0 : 1e6) + p.length;
  best ??= [...sections.keys(), ...leaves.keys()].filter((p) => p.endsWith(`.${name}`)).sort((a, b) => rank(a) - rank(b))[0];
  const hint = best ? `; did you mean "${best}"?` : "";
  return new ConfigError(`unknown config key "${path.join(".")}" (from ${origin})${hint}`);
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}
