/**
 * The worker flags both worker launchers take (`dask-mpi-ts`, `dask-worker-ts`), each the
 * command-line override of one configuration key: a flag not given leaves the key's value.
 */
import { parseDuration, parseMemoryLimit } from "../units.js";
import type { WorkerGiven } from "../deploy/settings.js";
import { type FlagSpec, type Parsed, fraction, positiveInt, resources } from "./args.js";

export const WORKER_FLAGS: FlagSpec[] = [
  { name: "nthreads", type: "string", valueName: "N", help: "task threads per worker", config: "distributed.worker.nthreads" },
  {
    name: "memory-limit", type: "string", valueName: "LIMIT", help: "per-worker memory: 10GB, 10GiB, 0.25 of the node, auto (the node's memory divided among its workers), or 0/none",
    config: "distributed.worker.memory-limit",
  },
  { name: "memory-target", type: "string", valueName: "FRACTION", help: "spill least-recently-used results to disk above this fraction of the memory limit, or false", config: "distributed.worker.memory.target" },
  { name: "memory-spill", type: "string", valueName: "FRACTION", help: "spill by measured process memory above this fraction, or false", config: "distributed.worker.memory.spill" },
  { name: "memory-pause", type: "string", valueName: "FRACTION", help: "start no new tasks above this fraction, or false", config: "distributed.worker.memory.pause" },
  { name: "memory-terminate", type: "string", valueName: "FRACTION", help: "restart the worker (without a nanny: stop it) above this fraction, or false", config: "distributed.worker.memory.terminate" },
  { name: "local-directory", type: "string", valueName: "DIR", help: "node-local directory for spilled results (a subdirectory per worker)", config: "distributed.worker.local-directory" },
  { name: "resources", type: "string", valueName: "SPEC", help: 'abstract resources each worker offers, e.g. "GPU=2,MEM=1e9"', config: "distributed.worker.resources" },
  { name: "lifetime", type: "string", valueName: "DURATION", help: "retire gracefully after this long (e.g. 30m): no new tasks, results move to other workers", config: "distributed.worker.lifetime.duration" },
  { name: "lifetime-stagger", type: "string", valueName: "DURATION", help: "random +/- spread of --lifetime, so workers do not all leave at once", config: "distributed.worker.lifetime.stagger" },
  { name: "lifetime-restart", type: "boolean", help: "after retiring, the nanny starts a fresh worker", config: "distributed.worker.lifetime.restart" },
  { name: "death-timeout", type: "string", valueName: "DURATION", help: "a worker without its scheduler this long exits (30s, 5m, ...)", config: "distributed.deploy.death-timeout" },
];

/** The worker settings given on the command line (validated, naming the flag); absent flags stay undefined. */
export function workerGiven(flags: Parsed["flags"]): WorkerGiven {
  const duration = (name: string) => (flags[name] === undefined ? undefined : parseDuration(flags[name] as string, `--${name}`));
  const limit = flags["memory-limit"] as string | undefined;
  // checked now, so that a bad value fails on every rank at once; kept as text, since "auto"
  // is resolved per node once it is known how many workers share it
  if (limit !== undefined) parseMemoryLimit(limit, {}, "--memory-limit");
  return {
    nthreads: positiveInt(flags.nthreads, "nthreads"),
    memoryLimit: limit,
    memory: {
      target: fraction(flags["memory-target"], "memory-target"),
      spill: fraction(flags["memory-spill"], "memory-spill"),
      pause: fraction(flags["memory-pause"], "memory-pause"),
      terminate: fraction(flags["memory-terminate"], "memory-terminate"),
    },
    localDirectory: flags["local-directory"] as string | undefined,
    resources: resources(flags.resources),
    lifetimeMs: duration("lifetime"),
    lifetimeStaggerMs: duration("lifetime-stagger"),
    lifetimeRestart: flags["lifetime-restart"] as boolean | undefined,
    deathTimeoutMs: duration("death-timeout"),
  };
}
