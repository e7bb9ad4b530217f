/**
 * What the MPI launcher told this process through its environment, read without MPI. Pure
 * functions over an env object, so they are unit-tested with sample environments.
 *
 * Variables by launcher:
 * - Open MPI `mpirun`: OMPI_COMM_WORLD_RANK/SIZE, OMPI_COMM_WORLD_LOCAL_RANK/LOCAL_SIZE, PMIX_RANK
 * - MPICH `mpiexec.hydra`: PMI_RANK/PMI_SIZE/PMI_FD, MPI_LOCALRANKID/MPI_LOCALNRANKS
 * - Slurm `srun`: SLURM_PROCID, SLURM_STEP_NUM_TASKS (SLURM_NTASKS), SLURM_LOCALID
 */
import { ConfigError } from "../errors.js";

export type LauncherName = "openmpi" | "hydra" | "slurm" | "none";

export interface LauncherEnv {
  launcher: LauncherName;
  rank?: number;
  size?: number;
  localRank?: number;
  localSize?: number;
}

type Env = Record<string, string | undefined>;

function int(v: string | undefined): number | undefined {
  return v !== undefined && /^\d+$/.test(v.trim()) ? Number(v.trim()) : undefined;
}

function defined(e: LauncherEnv): LauncherEnv {
  return Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined)) as unknown as LauncherEnv;
}

/**
 * Which launcher started this process, and the rank/size it assigned.
 *
 * Order matters: hydra started under Slurm (its proxies run through srun) also sees SLURM_*,
 * so hydra's own MPI_LOCALRANKID wins; `srun --mpi=pmi2/pmix` also sets PMI_/PMIX_ variables,
 * so Slurm is checked before the bare PMIx fallback. Slurm counts only inside a job step
 * (SLURM_STEP_NUM_TASKS or SLURM_STEP_ID, set by srun): a batch script also carries SLURM_PROCID
 * and SLURM_NTASKS but is a single process.
 *
 * @example detectLauncher({ PMI_RANK: "1", PMI_SIZE: "4", MPI_LOCALRANKID: "1" })
 *   // { launcher: "hydra", rank: 1, size: 4, localRank: 1 }
 */
export function detectLauncher(env: Env = process.env): LauncherEnv {
  if (env.OMPI_COMM_WORLD_SIZE !== undefined || env.OMPI_COMM_WORLD_RANK !== undefined) {
    return defined({
      launcher: "openmpi",
      rank: int(env.OMPI_COMM_WORLD_RANK) ?? int(env.PMIX_RANK),
      size: int(env.OMPI_COMM_WORLD_SIZE),
      localRank: int(env.OMPI_COMM_WORLD_LOCAL_RANK),
      localSize: int(env.OMPI_COMM_WORLD_LOCAL_SIZE),
    });
  }
  const pmi = env.PMI_RANK !== undefined || env.PMI_SIZE !== undefined;
  if (env.MPI_LOCALRANKID !== undefined || (pmi && env.SLURM_PROCID === undefined)) {
    return defined({
      launcher: "hydra",
      rank: int(env.PMI_RANK),
      size: int(env.PMI_SIZE),
      localRank: int(env.MPI_LOCALRANKID),
      localSize: int(env.MPI_LOCALNRANKS),
    });
  }
  if (env.SLURM_PROCID !== undefined && (env.SLURM_STEP_NUM_TASKS !== undefined || env.SLURM_STEP_ID !== undefined)) {
    return defined({
      launcher: "slurm",
      rank: int(env.SLURM_PROCID),
      size: int(env.SLURM_STEP_NUM_TASKS) ?? int(env.SLURM_NTASKS),
      localRank: int(env.SLURM_LOCALID),
      localSize: slurmTasksOnNode(env.SLURM_STEP_TASKS_PER_NODE ?? env.SLURM_TASKS_PER_NODE, int(env.SLURM_NODEID)),
    });
  }
  if (env.PMIX_RANK !== undefined) return defined({ launcher: "openmpi", rank: int(env.PMIX_RANK) });
  return { launcher: "none" };
}

/**
 * This node's task count from Slurm's compressed per-node list: "2(x3),1" is 2 tasks on each
 * of the first 3 nodes, then 1; `nodeId` counts from 0 (SLURM_NODEID).
 * @example slurmTasksOnNode("2(x3),1", 3) // 1
 */
export function slurmTasksOnNode(list: string | undefined, nodeId: number | undefined): number | undefined {
  if (list === undefined || nodeId === undefined) return undefined;
  let node = 0;
  for (const part of list.split(",")) {
    const m = /^(\d+)(?:\(x(\d+)\))?$/.exec(part.trim());
    if (!m) return undefined;
    node += m[2] === undefined ? 1 : Number(m[2]);
    if (nodeId < node) return Number(m[1]);
  }
  return undefined;
}

/**
 * Names of the launcher's variables in `env`, which a forked child must not inherit: a child
 * calling MPI_Init with them hangs the whole Open MPI job (MPICH: the child fails).
 */
export function launcherEnvKeys(env: Env = process.env): string[] {
  return Object.keys(env).filter(
    (k) => /^(OMPI_|PMIX_|PMI_|HYDRA_)/.test(k) || k === "MPI_LOCALRANKID" || k === "MPI_LOCALNRANKS",
  );
}

export type MpiFamily = "openmpi" | "mpich" | "other";

/** The MPI implementation named by an MPI_Get_library_version string. */
export function mpiFamily(libraryVersion: string): MpiFamily {
  if (/open mpi/i.test(libraryVersion)) return "openmpi";
  if (/mpich|mvapich|intel\(r\) mpi/i.test(libraryVersion)) return "mpich";
  return "other";
}

/** A short name of the MPI library: "Open MPI v4.1.4", "MPICH 4.0.2", else the first line. */
export function describeMpi(libraryVersion: string): string {
  const first = libraryVersion.split("\n")[0]?.trim() ?? "";
  const ompi = /^Open MPI (v[\w.]+)/.exec(first);
  if (ompi) return `Open MPI ${ompi[1]}`;
  const mpich = /^MPICH Version:\s*(\S+)/.exec(first);
  if (mpich) return `MPICH ${mpich[1]}`;
  return first || "an unknown MPI";
}

const LAUNCHER_LABEL: Record<LauncherName, string> = { openmpi: "Open MPI", hydra: "hydra", slurm: "srun", none: "no" };
const REBUILD_FOR: Record<LauncherName, string> = {
  openmpi: "MPICC=mpicc.openmpi npm run build:addon",
  hydra: "MPICC=mpicc.mpich npm run build:addon",
  slurm: "MPICC=<the mpicc of an MPI built with Slurm support> npm run build:addon (srun --mpi=list shows the plugins)",
  none: "npm run build:addon",
};
const LAUNCHER_OF: Record<MpiFamily, string> = { openmpi: "mpirun.openmpi", mpich: "mpiexec.hydra", other: "mpirun" };

const ranks = (n: number): string => `${n} rank${n === 1 ? "" : "s"}`;

/**
 * Fails when MPI's world disagrees with the launcher's environment. The usual cause: an addon
 * built against one MPI started by the other MPI's launcher, which silently makes every rank a
 * singleton (rank 0 of 1), so the job would run N copies of rank 0.
 *
 * @throws ConfigError naming both sizes, the addon's MPI, and how to fix it.
 */
export function checkWorldMatchesLauncher(
  world: { size: number; libraryVersion: string; addonPath?: string },
  launcher: LauncherEnv,
): void {
  if (launcher.size === undefined || launcher.size === world.size) return;
  const mpi = describeMpi(world.libraryVersion);
  const where = world.addonPath ? ` (${world.addonPath})` : "";
  throw new ConfigError(
    `MPI reports a world of ${ranks(world.size)} but the ${LAUNCHER_LABEL[launcher.launcher]} launcher started ${launcher.size}: ` +
      `the addon was built against ${mpi}${where} — rebuild it for this MPI with ${REBUILD_FOR[launcher.launcher]}` +
      ` (or point DASK_MPI_TS_ADDON at such a build), or launch with that MPI's ${LAUNCHER_OF[mpiFamily(world.libraryVersion)]}`,
  );
}
