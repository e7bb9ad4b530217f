// Worker directories (issue 12, point 10): which local directories are safe for private data,
// and which directories the purge may remove (only this host's dead workers' real directories).
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ConfigError } from "../../src/errors.js";
import { createWorkerDirectory, purgeDeadWorkerDirectories } from "../../src/worker/local-directory.js";
import { unsafeDirectory } from "../../src/files.js";
import { tempDir } from "../helpers/cluster.js";

const dir = (uid: number, mode: number, isDir = true) => ({ uid, mode, isDirectory: () => isDir });
const plain = (uid: number) => ({ uid, isSymbolicLink: () => false });
const link = (uid: number) => ({ uid, isSymbolicLink: () => true });

describe("worker local directory", function () {
  it("safe: ours or root's, and not writable by others unless sticky", () => {
    const me = 1000;
    assert.equal(unsafeDirectory("/d", plain(me), dir(me, 0o700), me), undefined);
    assert.equal(unsafeDirectory("/tmp", plain(0), dir(0, 0o1777), me), undefined, "/tmp");
    assert.equal(unsafeDirectory("/l", link(0), dir(me, 0o755), me), undefined, "a root-owned symlink to our directory");
    assert.match(unsafeDirectory("/d", plain(me), dir(1001, 0o700), me)!, /^local directory \/d is owned by uid 1001, not by this user \(1000\) or root/);
    assert.match(unsafeDirectory("/l", link(1001), dir(me, 0o700), me)!, /^local directory \/l is a symlink owned by uid 1001/);
    assert.match(unsafeDirectory("/d", plain(me), dir(me, 0o777), me)!, /\(mode 777\) is writable by other users and not sticky/);
    assert.match(unsafeDirectory("/d", plain(0), dir(0, 0o775), me)!, /\(mode 775\) is writable by other users and not sticky/);
    assert.match(unsafeDirectory("/f", plain(me), dir(me, 0o600, false), me)!, /^local directory \/f is not a directory/);
  });

  describe("on disk", function () {
    let tmp: ReturnType<typeof tempDir>;
    beforeEach(() => (tmp = tempDir()));
    afterEach(() => tmp.remove());

    it("a world-writable directory without the sticky bit is refused with a ConfigError naming it", () => {
      const open = path.join(tmp.dir, "open");
      mkdirSync(open);
      chmodSync(open, 0o777);
      assert.throws(() => createWorkerDirectory(open), (e: ConfigError) => e.code === "ERR_CONFIG" && e.message.includes(`local directory ${open} (mode 777)`));
      assert.deepEqual(readdirSync(open), []);
    });

    it("the purge removes dead workers' real directories of this host only; live ones, symlinks and other hosts' stay", () => {
      const live = createWorkerDirectory(tmp.dir);
      assert.equal(statSync(live).mode & 0o777, 0o700);
      const name = path.basename(live);
      // the same PID with another start time: a process that has ended (its PID reused by us)
      const m = /^(dask-worker-.+-\d+-)(\d+)(-[A-Za-z0-9]{6})$/.exec(name)!;
      assert.ok(m, name);
      const dead = path.join(tmp.dir, `${m[1]}1${m[3].slice(0, -1)}A`);
      mkdirSync(dead);
      writeFileSync(path.join(dead, "spilled"), "x");
      // a symlink with a dead worker's name: removing it is not the purge's business, and
      // what it points at must never be touched
      const target = path.join(tmp.dir, "target");
      mkdirSync(target);
      writeFileSync(path.join(target, "keep"), "x");
      const planted = path.join(tmp.dir, `${m[1]}1${m[3].slice(0, -1)}B`);
      symlinkSync(target, planted);
      // a directory of another host (a local directory on a shared file system)
      const elsewhere = path.join(tmp.dir, `dask-worker-otherhost.1-1-1-abcdef`);
      mkdirSync(elsewhere);

      assert.deepEqual(purgeDeadWorkerDirectories(tmp.dir), [dead]);
      assert.equal(existsSync(dead), false);
      assert.ok(existsSync(live), "the live directory");
      assert.ok(existsSync(path.join(target, "keep")), "the symlink's target");
      assert.ok(existsSync(elsewhere), "another host's directory");
    });
  });
});
