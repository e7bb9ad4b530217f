/**
 * The schema's defaults, already parsed (durations in ms, sizes in bytes), without zod: what
 * every process starts from when no configuration source exists, and what the runtime falls
 * back on for options it is not given. Importing zod costs ~100 ms of CPU per process, which
 * the start-up of every MPI rank cannot afford.
 *
 * The schema (schema.ts) is where defaults are decided; this table is its parsed copy, and a
 * unit test fails if the two differ (`configSchema.parse({})` must deep-equal it).
 */
import type { Config } from "./schema.js";

const jobqueue = (walltime = "00:30:00") => ({
  name: "dask-worker",
  cores: null,
  memory: null,
  processes: null,
  queue: null,
  account: null,
  project: null,
  walltime,
  interface: null,
  "death-timeout": 60_000,
  "local-directory": null,
  "shared-temp-directory": null,
  "worker-extra-args": [],
  shebang: "#!/usr/bin/env bash",
  "job-extra-directives": [],
  "job-directives-skip": [],
  "job-script-prologue": [],
  "log-directory": null,
  "scheduler-options": { interface: null, host: null, port: 0 },
});

/** `configSchema.parse({})`, written out. Treat as read-only. */
export const DEFAULT_CONFIG: Config = {
  distributed: {
    worker: {
      nthreads: 1,
      "memory-limit": "auto",
      "local-directory": null,
      resources: {},
      lifetime: { duration: null, stagger: 0, restart: false },
      memory: { target: 0.6, spill: 0.7, pause: 0.8, terminate: 0.95, "monitor-interval": 100, "max-spill": false },
    },
    nanny: { "max-restarts": 5, "restart-window": 60_000 },
    scheduler: {
      "allowed-failures": 3, "worker-ttl": 30_000, "idle-timeout": null,
      journal: { directory: null, checkpoint: false, "take-over-grace": 10_000, lease: 10_000, "client-timeout": 60_000, "sync-interval": 20 },
    },
    comm: { timeouts: { connect: 30_000 }, "max-frame-size": 512 * 2 ** 20, "handshake-timeout": 5000 },
    deploy: { "death-timeout": 60_000 },
  },
  logging: { level: "info", format: "json" },
  jobqueue: {
    slurm: { ...jobqueue(), "job-cpu": null, "job-mem": null },
    pbs: { ...jobqueue(), "resource-spec": null },
    sge: { ...jobqueue(), "resource-spec": null },
    lsf: { ...jobqueue("00:30"), ncpus: null, mem: null, "lsf-units": null, "use-stdin": true },
    oar: { ...jobqueue(), "resource-spec": null },
    htcondor: { ...jobqueue(), disk: null },
  },
};
