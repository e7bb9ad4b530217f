/** The client's check of the cluster's versions (getVersions). */
import { ConfigError } from "../errors.js";
import { logger } from "../log.js";
import { type Versions, versions } from "../version.js";

/**
 * Compare the scheduler's and every worker's versions with this process's; warn about a
 * mismatch, or throw a ConfigError when `strict`. Returns this process's versions.
 */
export function checkVersions(cluster: { scheduler: Versions; workers: Record<string, Versions> }, strict: boolean): Versions {
  const mine = versions();
  const mismatches: string[] = [];
  for (const [who, v] of [["scheduler", cluster.scheduler] as const, ...Object.entries(cluster.workers)]) {
    for (const k of ["dask-mpi-ts", "node"] as const) {
      if (v[k] !== mine[k]) mismatches.push(`${who} has ${k} ${v[k]}, this client ${mine[k]}`);
    }
  }
  if (mismatches.length) {
    const message = `mismatched versions: ${mismatches.join("; ")}`;
    if (strict) throw new ConfigError(message);
    logger("client").warn({ mismatches }, message);
  }
  return mine;
}
