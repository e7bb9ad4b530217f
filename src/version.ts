/** Versions that must agree across a cluster (checked by client.getVersions()). */
import { readFileSync } from "node:fs";

let pkg: string | undefined;

export function packageVersion(): string {
  if (pkg === undefined) {
    try {
      pkg = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
    } catch {
      pkg = "unknown";
    }
  }
  return pkg;
}

export interface Versions {
  "dask-mpi-ts": string;
  node: string;
  platform: string;
  arch: string;
}

export function versions(): Versions {
  return { "dask-mpi-ts": packageVersion(), node: process.version, platform: process.platform, arch: process.arch };
}
