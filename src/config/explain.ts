/** The text of `dask-mpi-ts config`: every key, its value as written, and where it came from. */
import type { LoadedConfig } from "./load.js";
import { configKeys } from "./schema.js";

/**
 * One line per leaf key, in schema order, values as written (JSON), sources aligned:
 * `distributed.worker.memory.target = 0.6   (default)`. With `descriptions`, each key is
 * preceded by a `# description` line.
 * @example
 * process.stdout.write(explainConfig(loadConfig()));
 */
export function explainConfig(config: LoadedConfig, options: { descriptions?: boolean } = {}): string {
  const rows = [...configKeys().leaves.values()].map((k) => {
    const value = k.path.split(".").reduce<unknown>((node, name) => (node as Record<string, unknown>)[name], config.raw);
    return { k, left: `${k.path} = ${JSON.stringify(value)}` };
  });
  const width = Math.max(...rows.map((r) => r.left.length)) + 3;
  return rows
    .map(({ k, left }) => {
      const line = `${left.padEnd(width)}(${config.origins[k.path] ?? "default"})\n`;
      return options.descriptions ? `# ${k.description}\n${line}` : line;
    })
    .join("");
}
