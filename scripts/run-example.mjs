#!/usr/bin/env node
// `npm run example`: a real 4-rank cluster on this machine (scheduler, client script, two
// workers) computing a sum of squares. Picks the mpirun flags this machine needs.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const asRoot = process.getuid?.() === 0 ? ["--allow-run-as-root"] : [];
const args = [
  ...asRoot, "--oversubscribe", "-np", "4",
  process.execPath, path.join(root, "bin/dask-mpi-ts.js"), "--interface", "lo", "--log-level", "warn",
  path.join(root, "examples/sum-of-squares.mjs"), process.argv[2] ?? "1000",
];
console.log(`$ mpirun ${args.join(" ")}`);
const child = spawn("mpirun", args, { stdio: "inherit" });
const timer = setTimeout(() => {
  console.error("example did not finish within 120 s; stopping it");
  child.kill("SIGTERM");
}, 120_000);
child.on("error", (err) => {
  console.error(`could not run mpirun (${err.message}): install Open MPI, e.g. apt-get install openmpi-bin libopenmpi-dev`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  clearTimeout(timer);
  process.exit(code ?? (signal ? 1 : 0));
});
