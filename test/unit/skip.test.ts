// The one rule for skipping tests (test/helpers/skip.ts): outside CI a missing prerequisite
// skips with the reason; in CI (CI=true, exported by .ci/run) it fails the run instead.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { ROOT } from "../helpers/cluster.js";
import { inCi, skipIf } from "../helpers/skip.js";

describe("skipping tests: one definition of CI", () => {
  const saved = process.env.CI;
  afterEach(() => {
    if (saved === undefined) delete process.env.CI;
    else process.env.CI = saved;
  });
  const withCi = (v: string | undefined) => {
    if (v === undefined) delete process.env.CI;
    else process.env.CI = v;
  };
  /** A mocha context whose skip() is recorded (mocha's throws a Pending). */
  const ctx = () => {
    const c = { skipped: false, skip: () => ((c.skipped = true), undefined as never) };
    return c;
  };

  it("CI is on for true/1/yes, off when unset, empty, 0 or false", () => {
    for (const v of ["true", "TRUE", "1", "yes"]) {
      withCi(v);
      assert.equal(inCi(), true, v);
    }
    for (const v of [undefined, "", "0", "false", "False"]) {
      withCi(v);
      assert.equal(inCi(), false, String(v));
    }
  });

  it("outside CI a missing prerequisite skips; in CI it throws naming what is missing; nothing missing does neither", () => {
    withCi(undefined);
    const a = ctx();
    skipIf(a as unknown as Mocha.Context, "no Chromium here");
    assert.equal(a.skipped, true);
    withCi("true");
    const b = ctx();
    assert.throws(() => skipIf(b as unknown as Mocha.Context, "no Chromium here"), /^Error: CI=true, so this is an error, not a skip: no Chromium here$/);
    assert.equal(b.skipped, false);
    const c = ctx();
    skipIf(c as unknown as Mocha.Context, undefined);
    assert.equal(c.skipped, false);
  });

  it(".ci/run exports CI=true itself, before running the tests", () => {
    const run = readFileSync(path.join(ROOT, ".ci/run"), "utf8");
    const at = run.search(/^export CI=true$/m);
    assert.ok(at >= 0, ".ci/run exports CI=true");
    assert.ok(at < run.indexOf("npm test"), "before npm test");
  });

  it("no test or helper decides about CI or skips except through helpers/skip.ts", () => {
    // one definition: process.env.CI is read only there, and no bare this.skip() elsewhere
    const files = (dir: string): string[] =>
      readdirRecursive(path.join(ROOT, dir)).filter((f) => f.endsWith(".ts") && !f.endsWith(path.join("helpers", "skip.ts")) && !f.endsWith("skip.test.ts"));
    const offenders = [...files("test")].filter((f) => /process\.env\.CI\b|\b(this|ctx)\.skip\(\)/.test(readFileSync(f, "utf8")));
    assert.deepEqual(offenders.map((f) => path.relative(ROOT, f)), []);
  });
});

function readdirRecursive(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? readdirRecursive(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}
