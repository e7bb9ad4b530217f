import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configKeys, configSchema, DEFAULT_CONFIG, explainConfig, loadConfig, startupConfig, type LoadConfigOptions } from "../../src/config/index.js";
import { logSettings, schedulerSettings, workerSettings } from "../../src/deploy/settings.js";
import { configSourcesExist } from "../../src/config/sources.js";
import { ConfigError } from "../../src/errors.js";

describe("configuration", () => {
  let home: string;
  let userDir: string;
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), "dask-mpi-ts-config-"));
    userDir = join(home, ".config", "dask-mpi-ts");
    mkdirSync(userDir, { recursive: true });
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  const write = (path: string, text: string): string => {
    writeFileSync(path, text);
    return path;
  };
  // never the real ~ or process.env
  const load = (options: LoadConfigOptions = {}) => loadConfig({ home, env: {}, ...options });
  const fails = (options: LoadConfigOptions, message: string | RegExp) =>
    assert.throws(() => load(options), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.code, "ERR_CONFIG");
      if (typeof message === "string") assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    });

  it("has a default, a description and an error phrase for every key", () => {
    const c = load();
    const w = c.values.distributed.worker;
    assert.deepEqual(w.memory, { target: 0.6, spill: 0.7, pause: 0.8, terminate: 0.95, "monitor-interval": 100, "max-spill": false });
    assert.equal(w.nthreads, 1);
    assert.equal(w["memory-limit"], "auto");
    assert.equal(w["local-directory"], null);
    assert.deepEqual(w.lifetime, { duration: null, stagger: 0, restart: false });
    assert.deepEqual(w.resources, {});
    assert.deepEqual(c.values.distributed.nanny, { "max-restarts": 5, "restart-window": 60_000 });
    assert.deepEqual(c.values.distributed.scheduler, {
      "allowed-failures": 3, "worker-ttl": 30_000, "idle-timeout": null,
      journal: { directory: null, checkpoint: false, "take-over-grace": 10_000, lease: 10_000, "client-timeout": 60_000, "sync-interval": 20 },
    });
    assert.deepEqual(c.values.distributed.comm, { timeouts: { connect: 30_000 }, "max-frame-size": 512 * 2 ** 20, "handshake-timeout": 5000 });
    assert.equal(c.values.distributed.deploy["death-timeout"], 60_000);
    assert.deepEqual(c.values.logging, { level: "info", format: "json" });
    assert.equal(c.values.jobqueue.slurm.walltime, "00:30:00");
    assert.equal(c.values.jobqueue.pbs.cores, null);
    assert.deepEqual(c.files, []);
    // the schema alone gives the same defaults
    assert.deepEqual(configSchema.parse({}), c.values);
    for (const k of configKeys().leaves.values()) {
      assert.equal(c.origins[k.path], "default", k.path);
      assert.ok(k.description && k.expects, k.path);
    }
  });

  it("merges defaults < user files (by name) < DASK_MPI_TS_CONFIG < env < flags", () => {
    write(join(userDir, "a.yaml"), "distributed:\n  worker:\n    nthreads: 2\n    memory:\n      target: 0.5\n");
    const b = write(join(userDir, "b.yml"), "distributed:\n  worker:\n    nthreads: 3\n  comm:\n    timeouts:\n      connect: 10s\n");
    write(join(userDir, "ignored.txt"), "not: [yaml");
    const named = write(join(home, "site.yaml"), "distributed:\n  worker:\n    nthreads: 4\n    memory:\n      pause: 0.85\n");

    let c = load();
    assert.equal(c.values.distributed.worker.nthreads, 3);
    assert.equal(c.origins["distributed.worker.nthreads"], b);
    assert.equal(c.values.distributed.worker.memory.target, 0.5);
    assert.equal(c.origins["distributed.worker.memory.target"], join(userDir, "a.yaml"));
    assert.equal(c.values.distributed.comm.timeouts.connect, 10_000);

    const env = { DASK_MPI_TS_CONFIG: named };
    c = load({ env });
    assert.deepEqual(c.files, [join(userDir, "a.yaml"), b, named]);
    assert.equal(c.values.distributed.worker.nthreads, 4);
    assert.equal(c.origins["distributed.worker.nthreads"], named);
    assert.equal(c.values.distributed.worker.memory.target, 0.5); // untouched keys keep the earlier value

    const env2 = { ...env, DASK_MPI_TS_DISTRIBUTED__WORKER__NTHREADS: "5" };
    c = load({ env: env2 });
    assert.equal(c.values.distributed.worker.nthreads, 5);
    assert.equal(c.origins["distributed.worker.nthreads"], "env DASK_MPI_TS_DISTRIBUTED__WORKER__NTHREADS");

    c = load({ env: env2, overrides: [{ path: "distributed.worker.nthreads", value: 6, source: "--nthreads" }, { path: "distributed.worker.memory.pause", value: undefined, source: "--unset" }] });
    assert.equal(c.values.distributed.worker.nthreads, 6);
    assert.equal(c.origins["distributed.worker.nthreads"], "--nthreads");
    assert.equal(c.values.distributed.worker.memory.pause, 0.85); // an undefined flag value is "not given"
    assert.equal(c.origins["distributed.worker.memory.pause"], named);

    c = load({ env: env2, overrides: { distributed: { worker: { nthreads: 7 } } } });
    assert.equal(c.values.distributed.worker.nthreads, 7);
    assert.equal(c.origins["distributed.worker.nthreads"], "override");
  });

  it("reads a directory named by DASK_MPI_TS_CONFIG, and fails if the path does not exist", () => {
    const dir = join(home, "site");
    mkdirSync(dir);
    write(join(dir, "2.yaml"), "logging:\n  level: debug\n");
    write(join(dir, "1.yaml"), "logging:\n  level: warn\n  format: pretty\n");
    const c = load({ env: { DASK_MPI_TS_CONFIG: dir } });
    assert.deepEqual(c.values.logging, { level: "debug", format: "pretty" });
    const missing = join(home, "nope.yaml");
    fails({ env: { DASK_MPI_TS_CONFIG: missing } }, new RegExp(`^DASK_MPI_TS_CONFIG names ${missing}, which cannot be read: ENOENT`));
  });

  it("treats - and _ in keys as the same, in files, env names and flags", () => {
    write(join(userDir, "w.yaml"), [
      "distributed:",
      "  worker:",
      "    memory_limit: 8GB",
      "    local-directory: /scratch/dask",
      "    memory:",
      "      max_spill: 1GiB",
      "  nanny:",
      "    max_restarts: 2",
      "jobqueue:",
      "  slurm:",
      "    job_extra_directives: [--exclusive]",
      "",
    ].join("\n"));
    const c = load({
      env: { DASK_MPI_TS_DISTRIBUTED__WORKER__MEMORY__MONITOR_INTERVAL: "250ms", DASK_MPI_TS_distributed__Scheduler__allowed_failures: "1" },
      overrides: [{ path: "distributed.worker.lifetime.stagger", value: "2m", source: "--lifetime-stagger" }, { path: "distributed.deploy.death_timeout", value: "5s" }],
    });
    const w = c.values.distributed.worker;
    assert.equal(w["memory-limit"], "8GB");
    assert.equal(w["local-directory"], "/scratch/dask");
    assert.equal(w.memory["max-spill"], 2 ** 30);
    assert.equal(w.memory["monitor-interval"], 250);
    assert.equal(w.lifetime.stagger, 120_000);
    assert.equal(c.values.distributed.nanny["max-restarts"], 2);
    assert.equal(c.values.distributed.scheduler["allowed-failures"], 1);
    assert.equal(c.values.distributed.deploy["death-timeout"], 5000);
    assert.equal(c.origins["distributed.deploy.death-timeout"], "override");
    assert.deepEqual(c.values.jobqueue.slurm["job-extra-directives"], ["--exclusive"]);
  });

  it("parses environment values as YAML scalars, and ignores DASK_MPI_TS_* names that are not config", () => {
    const c = load({
      env: {
        DASK_MPI_TS_DISTRIBUTED__WORKER__MEMORY__TARGET: "false",
        DASK_MPI_TS_DISTRIBUTED__WORKER__MEMORY__SPILL: "false",
        DASK_MPI_TS_DISTRIBUTED__WORKER__MEMORY__PAUSE: "0.5",
        DASK_MPI_TS_DISTRIBUTED__WORKER__MEMORY_LIMIT: '"10GB"',
        DASK_MPI_TS_DISTRIBUTED__COMM__MAX_FRAME_SIZE: "64MiB",
        DASK_MPI_TS_DISTRIBUTED__WORKER__LIFETIME__RESTART: "true",
        DASK_MPI_TS_DISTRIBUTED__WORKER__LIFETIME__DURATION: "30 minutes",
        DASK_MPI_TS_DISTRIBUTED__WORKER__RESOURCES: "{GPU: 2, my_res: 1}",
        DASK_MPI_TS_DISTRIBUTED__WORKER__LOCAL_DIRECTORY: "/tmp/with space",
        DASK_MPI_TS_DISTRIBUTED__SCHEDULER__WORKER_TTL: "null",
        // a whole section as a YAML mapping
        DASK_MPI_TS_DISTRIBUTED__NANNY: "{max_restarts: 0, restart-window: 5}",
        DASK_MPI_TS_SECRET: "x",
        DASK_MPI_TS_LOG_LEVEL: "debug",
        HOME: "/nonexistent",
      },
    });
    const w = c.values.distributed.worker;
    assert.equal(w.memory.target, false);
    assert.equal(w.memory.spill, false);
    assert.equal(w.memory.pause, 0.5);
    assert.equal(w["memory-limit"], "10GB");
    assert.equal(c.values.distributed.comm["max-frame-size"], 64 * 2 ** 20);
    assert.equal(w.lifetime.restart, true);
    assert.equal(w.lifetime.duration, 30 * 60_000);
    assert.deepEqual(w.resources, { GPU: 2, my_res: 1 }); // resource names are kept as written
    assert.equal(w["local-directory"], "/tmp/with space");
    assert.equal(c.values.distributed.scheduler["worker-ttl"], null);
    assert.deepEqual(c.values.distributed.nanny, { "max-restarts": 0, "restart-window": 5000 });
    assert.equal(c.origins["distributed.nanny.restart-window"], "env DASK_MPI_TS_DISTRIBUTED__NANNY");
    assert.equal(c.values.logging.level, "info");
  });

  it("normalizes durations to ms and sizes to bytes, as Dask writes them", () => {
    const c = load({
      overrides: {
        distributed: {
          worker: { "memory-limit": false, lifetime: { duration: "1h", stagger: 90 } },
          scheduler: { "worker-ttl": "5 minutes", "idle-timeout": 0.5 },
          comm: { "max-frame-size": "10GB", "handshake-timeout": ".5s" },
          deploy: { "death-timeout": null },
        },
        jobqueue: { pbs: { memory: "10GiB", cores: 8, walltime: "2-00:00:00" }, lsf: { memory: 1024 } },
      },
    });
    const d = c.values.distributed;
    assert.equal(d.worker["memory-limit"], "none");
    assert.equal(d.worker.lifetime.duration, 3_600_000);
    assert.equal(d.worker.lifetime.stagger, 90_000);
    assert.equal(d.scheduler["worker-ttl"], 300_000);
    assert.equal(d.scheduler["idle-timeout"], 500);
    assert.equal(d.comm["max-frame-size"], 10e9);
    assert.equal(d.comm["handshake-timeout"], 500);
    assert.equal(d.deploy["death-timeout"], null);
    assert.equal(c.values.jobqueue.pbs.memory, 10 * 2 ** 30);
    assert.equal(c.values.jobqueue.pbs.walltime, "2-00:00:00");
    assert.equal(c.values.jobqueue.lsf.memory, 1024);
  });

  it("rejects a bad value naming the key, the value and the source, for every kind of source", () => {
    const file = write(join(userDir, "worker.yaml"), "distributed:\n  worker:\n    memory:\n      target: 1.5\n");
    fails({}, `distributed.worker.memory.target must be a fraction between 0 and 1 or false, got 1.5 (from ${file})`);
    rmSync(file);

    fails({ env: { DASK_MPI_TS_DISTRIBUTED__COMM__TIMEOUTS__CONNECT: "soon" } },
      'distributed.comm.timeouts.connect must be a duration like 30s, 5m or 100ms, or a number of seconds, got "soon" (from env DASK_MPI_TS_DISTRIBUTED__COMM__TIMEOUTS__CONNECT)');
    fails({ overrides: [{ path: "distributed.worker.nthreads", value: 0, source: "--nthreads" }] },
      "distributed.worker.nthreads must be a positive integer, got 0 (from --nthreads)");
    fails({ overrides: [{ path: "distributed.worker.memory-limit", value: "lots", source: "--memory-limit" }] },
      'distributed.worker.memory-limit must be a size like 10GB, a fraction of node memory like 0.25, "auto", or 0 for no limit, got "lots" (from --memory-limit)');
    fails({ overrides: { distributed: { worker: { resources: { GPU: -1 } } } } },
      'distributed.worker.resources must be a mapping of resource names to non-negative numbers, got {"GPU":-1} (from override)');
    fails({ overrides: { logging: { level: "loud" } } },
      'logging.level must be one of "trace", "debug", "info", "warn", "error", "fatal", "silent", got "loud" (from override)');
    // every bad value is reported, one per line
    fails({ env: { DASK_MPI_TS_DISTRIBUTED__WORKER__MEMORY__SPILL: "0", DASK_MPI_TS_DISTRIBUTED__COMM__MAX_FRAME_SIZE: "big" } },
      "distributed.worker.memory.spill must be a fraction between 0 and 1 or false, got 0 (from env DASK_MPI_TS_DISTRIBUTED__WORKER__MEMORY__SPILL)\n" +
      'distributed.comm.max-frame-size must be a size like 10GB, 512MiB or a number of bytes, got "big" (from env DASK_MPI_TS_DISTRIBUTED__COMM__MAX_FRAME_SIZE)');
    const section = write(join(userDir, "s.yaml"), "distributed:\n  worker: 4\n");
    fails({}, `distributed.worker must be a mapping of settings, got 4 (from ${section})`);
  });

  it("rejects unknown keys, naming the key and source, with a suggestion when one is close", () => {
    const file = write(join(userDir, "typo.yaml"), "distributed:\n  worker:\n    nthread: 2\n");
    fails({}, `unknown config key "distributed.worker.nthread" (from ${file}); did you mean "distributed.worker.nthreads"?`);
    write(file, "distributed:\n  memory:\n    target: 0.5\n");
    fails({}, `unknown config key "distributed.memory" (from ${file}); did you mean "distributed.worker.memory"?`);
    write(file, "distributed:\n  worker:\n    colour: blue\n");
    fails({}, `unknown config key "distributed.worker.colour" (from ${file})`);
    rmSync(file);
    fails({ env: { DASK_MPI_TS_DISTRIBUTED__WORKER__MEMORY__TARGE: "0.5" } },
      'unknown config key "distributed.worker.memory.targe" (from env DASK_MPI_TS_DISTRIBUTED__WORKER__MEMORY__TARGE); did you mean "distributed.worker.memory.target"?');
    fails({ overrides: [{ path: "distributed.worker.lifetime.stager", value: "1s", source: "--lifetime-stagger" }] },
      'unknown config key "distributed.worker.lifetime.stager" (from --lifetime-stagger); did you mean "distributed.worker.lifetime.stagger"?');
  });

  it("names the file and line of a YAML syntax error; accepts empty and comment-only files", () => {
    write(join(userDir, "empty.yaml"), "");
    write(join(userDir, "comments.yaml"), "# distributed:\n#   worker:\n");
    write(join(userDir, "sections.yaml"), "distributed:\n  worker:\n");
    assert.equal(load().values.distributed.worker.nthreads, 1);
    const bad = write(join(userDir, "zz.yaml"), "distributed:\n  worker:\n    nthreads: [1,\n    memory: {\n");
    fails({}, `invalid yaml in ${bad} at line 4, column 5: deficient indentation`);
    write(bad, "distributed:\n  worker:\n    nthreads: 1\n    nthreads: 2\n");
    fails({}, `invalid yaml in ${bad} at line 4, column 5: duplicated mapping key`);
    write(bad, "logging: {}\n---\nlogging: {}\n");
    fails({}, `config file ${bad} holds 2 yaml documents; expected one`);
  });

  it("explains every key's value and source, one line each", () => {
    const file = write(join(userDir, "w.yaml"), "distributed:\n  worker:\n    memory:\n      target: false\n");
    const text = explainConfig(load({ overrides: [{ path: "distributed.worker.nthreads", value: 4, source: "--nthreads" }] }));
    const lines = text.trimEnd().split("\n");
    assert.equal(lines.length, configKeys().leaves.size);
    assert.match(text, new RegExp(`^distributed\\.worker\\.memory\\.target = false +\\(${file}\\)$`, "m"));
    assert.match(text, /^distributed\.worker\.memory\.spill = 0\.7 +\(default\)$/m);
    assert.match(text, /^distributed\.worker\.memory\.monitor-interval = "100ms" +\(default\)$/m);
    assert.match(text, /^distributed\.worker\.nthreads = 4 +\(--nthreads\)$/m);
    const open = lines.map((l) => l.lastIndexOf("("));
    assert.equal(new Set(open).size, 1); // sources line up
    assert.match(explainConfig(load(), { descriptions: true }), /^# task threads per worker\ndistributed\.worker\.nthreads = 1 /m);
  });

  describe("at start-up (launchers)", () => {
    it("the zod-free defaults table is the schema's parsed defaults", () => {
      // defaults are decided in the schema; defaults.ts is its copy for the fast path
      assert.deepEqual(DEFAULT_CONFIG, configSchema.parse({}));
    });

    it("finds sources without parsing them: files, DASK_MPI_TS_CONFIG, config variables only", () => {
      assert.equal(configSourcesExist({ home, env: {} }), false);
      assert.equal(configSourcesExist({ home: join(home, "nonexistent"), env: {} }), false);
      assert.equal(configSourcesExist({ home, env: { DASK_MPI_TS_SECRET: "x", DASK_MPI_TS_LOG_LEVEL: "warn", DASK_MPI_TS_ADDON: "/a.node" } }), false);
      write(join(userDir, "notes.txt"), "not config");
      assert.equal(configSourcesExist({ home, env: {} }), false);
      assert.equal(configSourcesExist({ home, env: { DASK_MPI_TS_CONFIG: join(home, "missing.yaml") } }), true);
      assert.equal(configSourcesExist({ home, env: { DASK_MPI_TS_DISTRIBUTED__WORKER__NTHREADS: "2" } }), true);
      assert.equal(configSourcesExist({ home, env: { DASK_MPI_TS_LOGGING__LEVEL: "warn" } }), true);
      write(join(userDir, "w.yml"), "logging: {}\n");
      assert.equal(configSourcesExist({ home, env: {} }), true);
    });

    it("startupConfig: the defaults without a source, else the validated merge with origins", async () => {
      const none = await startupConfig({ home, env: {} });
      assert.equal(none.values, DEFAULT_CONFIG);
      assert.deepEqual(none.origins, {});
      const file = write(join(userDir, "w.yaml"), "distributed:\n  worker:\n    nthreads: 3\n");
      const c = await startupConfig({ home, env: { DASK_MPI_TS_DISTRIBUTED__DEPLOY__DEATH_TIMEOUT: "5s" } });
      assert.equal(c.values.distributed.worker.nthreads, 3);
      assert.equal(c.values.distributed.deploy["death-timeout"], 5000);
      assert.equal(c.origins["distributed.worker.nthreads"], file);
      write(file, "distributed:\n  worker:\n    nthreads: many\n");
      await assert.rejects(startupConfig({ home, env: {} }), {
        code: "ERR_CONFIG",
        message: `distributed.worker.nthreads must be a positive integer, got "many" (from ${file})`,
      });
    });

    it("worker, nanny and scheduler options: what the launcher was given, else the configuration", async () => {
      const node = { workersOnNode: 1 };
      const defaults = workerSettings(await startupConfig({ home, env: {} }), {}, node);
      assert.deepEqual(defaults.nanny, { maxRestarts: 5, restartWindowMs: 60_000, restartAfterRetire: false });
      assert.equal(defaults.worker.nthreads, 1);
      assert.deepEqual(defaults.worker.memory, { target: 0.6, spill: 0.7, pause: 0.8, terminate: 0.95 });
      assert.equal(defaults.worker.deathTimeoutMs, 60_000);
      assert.equal(defaults.worker.lifetimeMs, undefined);
      assert.equal(defaults.worker.localDirectory, undefined);
      assert.deepEqual(defaults.worker.comm, { connectTimeoutMs: 30_000, handshakeTimeoutMs: 5000, maxFrameBytes: 512 * 2 ** 20 });

      write(join(userDir, "w.yaml"), [
        "distributed:",
        "  worker:",
        "    nthreads: 3",
        "    memory-limit: 1GB",
        "    local-directory: /scratch",
        "    resources: {GPU: 2}",
        "    lifetime: {duration: 10m, stagger: 1m, restart: true}",
        "    memory: {target: false, spill: false, pause: 0.5, monitor-interval: 50ms, max-spill: 1GiB}",
        "  nanny: {max-restarts: 2, restart-window: 10s}",
        "  scheduler: {allowed-failures: 1, worker-ttl: null, idle-timeout: 1h}",
        "  comm: {timeouts: {connect: 3s}, handshake-timeout: 1s, max-frame-size: 1MiB}",
        "  deploy: {death-timeout: null}",
        "",
      ].join("\n"));
      const config = await startupConfig({ home, env: {} });
      const s = workerSettings(config, {}, node);
      assert.deepEqual(s.nanny, { maxRestarts: 2, restartWindowMs: 10_000, restartAfterRetire: true });
      assert.deepEqual(s.worker, {
        nthreads: 3,
        memoryLimit: 1e9,
        memory: { target: false, spill: false, pause: 0.5, terminate: 0.95 },
        memoryMonitorMs: 50,
        maxSpillBytes: 2 ** 30,
        localDirectory: "/scratch",
        resources: { GPU: 2 },
        lifetimeMs: 600_000,
        lifetimeStaggerMs: 60_000,
        deathTimeoutMs: Infinity, // null: never give up
        comm: { connectTimeoutMs: 3000, handshakeTimeoutMs: 1000, maxFrameBytes: 2 ** 20 },
      });
      assert.deepEqual(schedulerSettings(config), {
        allowedFailures: 1,
        workerTtlMs: null,
        idleTimeoutMs: 3_600_000,
        comm: { connectTimeoutMs: 3000, handshakeTimeoutMs: 1000, maxFrameBytes: 2 ** 20 },
      });

      const given = workerSettings(config, {
        nthreads: 4, memoryLimit: "2GB", memory: { pause: 0.9, target: undefined }, localDirectory: "/tmp/x",
        lifetimeMs: 1000, lifetimeRestart: false, deathTimeoutMs: 5000,
      }, node);
      assert.equal(given.worker.nthreads, 4);
      assert.equal(given.worker.memoryLimit, 2e9);
      assert.deepEqual(given.worker.memory, { target: false, spill: false, pause: 0.9, terminate: 0.95 });
      assert.equal(given.worker.localDirectory, "/tmp/x");
      assert.equal(given.worker.lifetimeMs, 1000);
      assert.equal(given.worker.lifetimeStaggerMs, 60_000);
      assert.equal(given.worker.deathTimeoutMs, 5000);
      assert.equal(given.nanny.restartAfterRetire, false);
    });

    it("a memory limit is resolved for the node, and one too big for it names its source", async () => {
      const file = write(join(userDir, "w.yaml"), "distributed:\n  worker:\n    memory-limit: auto\n");
      const config = await startupConfig({ home, env: {} });
      const { totalmem } = await import("node:os");
      assert.equal(workerSettings(config, {}, { workersOnNode: 4 }).worker.memoryLimit, Math.floor(totalmem() / 4));
      write(file, "distributed:\n  worker:\n    memory-limit: 1PB\n");
      const big = await startupConfig({ home, env: {} });
      assert.throws(() => workerSettings(big, {}, { workersOnNode: 1 }), {
        code: "ERR_CONFIG",
        message: `distributed.worker.memory-limit 1PB is more than this node's memory (${totalmem()} bytes) (from ${file})`,
      });
      assert.throws(() => workerSettings(big, { memoryLimit: "1PB" }, { workersOnNode: 1 }), /^ConfigError: --memory-limit 1PB is more than/);
    });

    it("log level: --log-level, else a configured level, else the inherited one (DASK_MPI_TS_LOG_LEVEL)", async () => {
      const none = await startupConfig({ home, env: {} });
      assert.deepEqual(logSettings(none, {}), { level: undefined, format: "json" });
      assert.deepEqual(logSettings(none, { logLevel: "debug" }), { level: "debug", format: "json" });
      const set = await startupConfig({ home, env: { DASK_MPI_TS_LOGGING__LEVEL: "warn", DASK_MPI_TS_LOGGING__FORMAT: "pretty" } });
      assert.deepEqual(logSettings(set, {}), { level: "warn", format: "pretty" });
      assert.deepEqual(logSettings(set, { logLevel: "error" }), { level: "error", format: "pretty" });
    });
  });
});
