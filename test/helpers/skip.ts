/** Skipping a suite or test that needs something this machine lacks, saying why in the output. */
export function skipIf(ctx: Mocha.Context, why: string | undefined): void {
  if (!why) return;
  console.log(`      skipped: ${why}`);
  ctx.skip();
}
