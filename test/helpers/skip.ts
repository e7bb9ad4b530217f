/**
 * The one place that decides whether a test may be skipped. A developer's machine may lack
 * SLURM, Grid Engine, Chromium, a second MPI or the right to make network namespaces: those
 * tests are skipped with the reason. In CI (`.ci/run` exports CI=true) the machine is supposed
 * to have all of it, so a missing piece fails the run instead of passing it silently.
 */

/** True in CI: the CI variable is set to anything but "", "0" or "false" (.ci/run sets CI=true). */
export function inCi(): boolean {
  const v = (process.env.CI ?? "").trim().toLowerCase();
  return v !== "" && v !== "0" && v !== "false";
}

/** The error a missing prerequisite is in CI. */
export function ciMissing(why: string): Error {
  return new Error(`CI=true, so this is an error, not a skip: ${why}`);
}

/**
 * Skip a suite or test that needs something this machine lacks (`why`; undefined: it has it),
 * saying why in the output. In CI this throws instead: nothing is skipped there.
 */
export function skipIf(ctx: Mocha.Context, why: string | undefined): void {
  if (!why) return;
  if (inCi()) throw ciMissing(why);
  console.log(`      skipped: ${why}`);
  ctx.skip();
}
