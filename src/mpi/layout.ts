/**
 * Which rank does what in an MPI-launched cluster: the scheduler on `schedulerRank`, the
 * user's program (a client) on `clientRank` if there is one, and workers on the other ranks,
 * or, without exclusive workers, on every rank (the scheduler's and the client's too), as
 * dask-mpi's `exclusive_workers=False` / `--inclusive-workers` do. One rank may host the
 * scheduler and the client (upstream allows `scheduler_rank == client_rank`). Pure.
 *
 * Minimum world size: as dask-mpi computes it (every named rank must exist:
 * `1 + max(scheduler_rank, client_rank)`), and, unlike dask-mpi, at least one worker: with
 * exclusive workers a rank besides the scheduler's and the client's (dask-mpi's execute()
 * accepts 2 ranks and then runs the client function on a cluster without workers, where its
 * first computation waits forever).
 */
import { ConfigError, WorldTooSmallError } from "../errors.js";

export interface RankLayout {
  /** Rank of the scheduler (default 0). */
  schedulerRank: number;
  /** Rank that runs the user's program, if any. */
  clientRank?: number;
  /** Workers only on ranks with no other role (default); false: on every rank. */
  exclusiveWorkers: boolean;
}

export interface RankRoles {
  scheduler: boolean;
  client: boolean;
  worker: boolean;
}

/** The usual layout: scheduler 0, client 1 (if any), workers on the other ranks. */
export const DEFAULT_LAYOUT: RankLayout = { schedulerRank: 0, exclusiveWorkers: true };

export function rolesOf(rank: number, layout: RankLayout): RankRoles {
  const scheduler = rank === layout.schedulerRank;
  const client = rank === layout.clientRank;
  return { scheduler, client, worker: !layout.exclusiveWorkers || (!scheduler && !client) };
}

/** "scheduler", "client", "worker", or several joined by "+" ("scheduler+worker"). */
export function roleName(roles: RankRoles): string {
  return (["scheduler", "client", "worker"] as const).filter((r) => roles[r]).join("+");
}

/** The fewest ranks that give every named rank and at least one worker. */
export function minWorldSize(layout: RankLayout): number {
  const named = new Set([layout.schedulerRank, ...(layout.clientRank === undefined ? [] : [layout.clientRank])]);
  const highest = Math.max(...named);
  return Math.max(highest + 1, layout.exclusiveWorkers ? named.size + 1 : 1);
}

/** "scheduler on rank 0, client on rank 1, and a rank for a worker". */
export function describeLayout(layout: RankLayout): string {
  const parts = [`scheduler on rank ${layout.schedulerRank}`];
  if (layout.clientRank !== undefined) parts.push(`client on rank ${layout.clientRank}`);
  parts.push(layout.exclusiveWorkers ? "and at least one rank for workers" : "and a worker on every rank");
  return parts.join(", ");
}

/** A WorldTooSmallError naming the sizes and the layout, or undefined when `size` is enough. */
export function checkWorldSize(layout: RankLayout, size: number, what: string): WorldTooSmallError | undefined {
  const needed = minWorldSize(layout);
  return size < needed ? new WorldTooSmallError(size, needed, what, { detail: describeLayout(layout) }) : undefined;
}

/** A rank number given by a user (`--scheduler-rank`, `clientRank`): a non-negative integer. */
export function rankNumber(value: unknown, name: string): number {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0) return value;
  if (typeof value === "string" && /^\d+$/.test(value)) return Number(value);
  throw new ConfigError(`${name} must be a rank number (a non-negative integer), got ${JSON.stringify(value) ?? String(value)}`);
}
