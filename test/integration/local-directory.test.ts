// A worker's local directory on a shared node (issue 12, point 10): spilled data is private
// (directory 0700, files 0600, whatever the umask), a local directory planted by another user
// is refused, and the directory of a worker killed with SIGKILL is purged by the next worker
// that starts there, while live workers' directories and other users' are left alone.
import assert from "node:assert/strict";
import { chownSync, existsSync, lchownSync, mkdirSync, readdirSync, statSync, symlinkSync } from "node:fs";
import path from "node:path";
import { Client } from "../../src/index.js";
import { BIN, startProcessCluster, tempDir } from "../helpers/cluster.js";
import { type Proc, childPids, cleanupProcs, exitWithin, spawnProc, waitFor } from "../helpers/proc.js";
import { skipIf } from "../helpers/skip.js";

const NOBODY = 65534;
let tmp: ReturnType<typeof tempDir>;
let client: Client | undefined;

/** A dask-worker-ts without a nanny (its pid is the worker's), spilling to `local`. */
function worker(file: string, name: string, local: string, extra: string[] = []): Proc {
  return spawnProc(
    process.execPath,
    [BIN("dask-worker-ts"), "--scheduler-file", file, "--interface", "lo", "--name", name, "--no-nanny", "--memory-limit", "2GB", "--local-directory", local, ...extra],
    { env: { DASK_MPI_TS_LOG_LEVEL: "warn" } },
  );
}

/** The directories in `local` whose names carry `pid` (the owner's pid is part of the name). */
function dirsOf(local: string, pid: number): string[] {
  if (!existsSync(local)) return [];
  return readdirSync(local).filter((n) => n.startsWith("dask-worker-") && n.split("-").includes(String(pid)));
}

const mode = (p: string) => statSync(p).mode & 0o7777;

describe("worker local directory (real processes)", function () {
  this.timeout(120_000);
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await cleanupProcs();
    tmp.remove();
  });

  it("spill directory 0700 and spill files 0600 under umask 000; a local directory it creates is 0700", async () => {
    const c = await startProcessCluster(tmp.dir, { workers: 0 });
    const local = path.join(tmp.dir, "local");
    const old = process.umask(0o000); // the child inherits it
    let w: Proc;
    try {
      w = worker(c.file, "w0", local, ["--memory-target", "0.05", "--memory-spill", "false", "--memory-pause", "false", "--memory-terminate", "false"]);
    } finally {
      process.umask(old);
    }
    client = await Client.connect({ schedulerFile: c.file, timeout: 20_000 });
    await client.waitForWorkers(1, { timeout: 20_000 });
    const parts = client.map((i: number) => new Float64Array(4 * 1024 * 1024).fill(i), [1, 2, 3, 4, 5, 6]); // 192 MiB, target 100 MB
    await Promise.all(parts.map((p) => p.whenDone()));
    const [dir] = dirsOf(local, w.child.pid!);
    assert.ok(dir, `a directory of worker ${w.child.pid} in ${local}: ${existsSync(local) ? readdirSync(local) : "none"}`);
    const full = path.join(local, dir);
    const files = await waitFor("spill files", () => (readdirSync(full).length >= 2 ? readdirSync(full) : undefined), { timeoutMs: 10_000, proc: w });
    assert.equal(mode(local).toString(8), "700", "the local directory the worker created");
    assert.equal(mode(full).toString(8), "700", "the worker's spill directory");
    for (const f of files) assert.equal(mode(path.join(full, f)).toString(8), "600", `spill file ${f}`);
    // and the values are intact
    assert.deepEqual((await client.gather(parts)).map((a) => a[a.length - 1]), [1, 2, 3, 4, 5, 6]);
  });

  it("refuses a local directory owned by another user, and a symlink another user planted", async function () {
    skipIf(this, process.getuid?.() === 0 ? undefined : "needs root, to make directories owned by nobody");
    const c = await startProcessCluster(tmp.dir, { workers: 0 });
    // another user's directory, writable by root (the old code used it as it was)
    const theirs = path.join(tmp.dir, "theirs");
    mkdirSync(theirs, { mode: 0o755 });
    chownSync(theirs, NOBODY, NOBODY);
    const w1 = worker(c.file, "w1", theirs);
    const r1 = await exitWithin(w1, 20_000);
    assert.equal(r1.code, 1, w1.stderr);
    assert.match(w1.stderr, new RegExp(`local directory ${theirs} is owned by uid ${NOBODY}`));
    assert.deepEqual(readdirSync(theirs), [], "nothing written there");

    // a symlink planted by another user, pointing to a directory of ours: they can re-point it
    const mine = path.join(tmp.dir, "mine");
    mkdirSync(mine, { mode: 0o700 });
    const link = path.join(tmp.dir, "link");
    symlinkSync(mine, link);
    lchownSync(link, NOBODY, NOBODY);
    const w2 = worker(c.file, "w2", link);
    const r2 = await exitWithin(w2, 20_000);
    assert.equal(r2.code, 1, w2.stderr);
    assert.match(w2.stderr, new RegExp(`local directory ${link} is a symlink owned by uid ${NOBODY}`));
    assert.deepEqual(readdirSync(mine), [], "nothing written there");
  });

  it("a worker killed with SIGKILL leaves its directory; the next worker there purges it and leaves live and foreign ones", async () => {
    const c = await startProcessCluster(tmp.dir, { workers: 0 });
    const local = path.join(tmp.dir, "local");
    const a = worker(c.file, "a", local);
    const b = worker(c.file, "b", local);
    const [dirA] = await waitFor("a's directory", () => (dirsOf(local, a.child.pid!).length ? dirsOf(local, a.child.pid!) : undefined), { timeoutMs: 20_000, proc: a });
    const [dirB] = await waitFor("b's directory", () => (dirsOf(local, b.child.pid!).length ? dirsOf(local, b.child.pid!) : undefined), { timeoutMs: 20_000, proc: b });
    a.child.kill("SIGKILL");
    await a.exited;
    assert.ok(existsSync(path.join(local, dirA!)), "SIGKILL leaves the directory behind");
    // a dead worker's directory of another user (same name pattern): not ours to remove
    let foreign: string | undefined;
    if (process.getuid?.() === 0) {
      foreign = path.join(local, `${dirA!.slice(0, -6)}zzzzzz`);
      mkdirSync(foreign);
      chownSync(foreign, NOBODY, NOBODY);
    }
    const d = worker(c.file, "d", local);
    await waitFor("d's directory", () => dirsOf(local, d.child.pid!).length > 0, { timeoutMs: 20_000, proc: d });
    assert.equal(existsSync(path.join(local, dirA!)), false, `the dead worker's directory ${dirA} was purged`);
    assert.ok(existsSync(path.join(local, dirB!)), "the live worker's directory is left alone");
    if (foreign) assert.ok(existsSync(foreign), "another user's directory is left alone");
    assert.equal(b.exitCode(), undefined, "b is still running");
  });

  it("a nanny whose worker was killed removes that worker's directory when it starts the next", async () => {
    const c = await startProcessCluster(tmp.dir, { workers: 0 });
    const local = path.join(tmp.dir, "local");
    const nanny = spawnProc(
      process.execPath,
      [BIN("dask-worker-ts"), "--scheduler-file", c.file, "--interface", "lo", "--name", "n", "--nanny", "--memory-limit", "2GB", "--local-directory", local],
      { env: { DASK_MPI_TS_LOG_LEVEL: "warn" } },
    );
    const childWithDir = (not?: number) => {
      const pid = childPids(nanny.child.pid!).find((p) => p !== not);
      return pid !== undefined && dirsOf(local, pid).length ? { pid, dir: dirsOf(local, pid)[0]! } : undefined;
    };
    const first = await waitFor("the worker child's directory", () => childWithDir(), { timeoutMs: 20_000, proc: nanny });
    process.kill(first.pid, "SIGKILL");
    const second = await waitFor("a new worker child's directory", () => childWithDir(first.pid), { timeoutMs: 20_000, proc: nanny });
    assert.notEqual(second.dir, first.dir);
    assert.equal(existsSync(path.join(local, first.dir)), false, "the killed worker's directory");
  });
});
