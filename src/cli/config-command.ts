/**
 * `dask-mpi-ts config [--describe]`: the merged configuration, one key a line, and where each
 * value came from (flags are not part of it: they apply to the launch they are given to). The
 * one cli file that reads the configuration itself.
 */
import { describeError } from "../errors.js";

export async function printConfig(argv: string[]): Promise<void> {
  try {
    const { loadConfig, explainConfig } = await import("../config/index.js");
    process.stdout.write(explainConfig(loadConfig(), { descriptions: argv.includes("--describe") }));
  } catch (err) {
    process.stderr.write(`dask-mpi-ts: error: ${describeError(err)}\n`);
    process.exit(2);
  }
}
