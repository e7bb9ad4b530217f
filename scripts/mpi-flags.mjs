#!/usr/bin/env node
/**
 * MPI compile and link flags from the MPI compiler wrapper ($MPICC, default mpicc), for
 * binding.gyp (node-gyp has no FindMPI). Open MPI answers --showme:compile / --showme:link;
 * MPICH answers -compile_info / -link_info with a whole command line, filtered here to the
 * -I/-L/-l/-Wl flags.
 *
 *   node scripts/mpi-flags.mjs --include-dirs   # include directories, one per word
 *   node scripts/mpi-flags.mjs --ldflags        # -L/-l/-Wl flags, plus -Wl,-rpath per -L dir
 *   node scripts/mpi-flags.mjs --napi-include   # node-addon-api's include directory
 */
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The MPI compiler wrapper to use: $MPICC or "mpicc". */
export function mpiCompiler(env = process.env) {
  return env.MPICC && env.MPICC.trim() ? env.MPICC.trim() : "mpicc";
}

function run(cmd, args) {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/**
 * Flags for one MPI compiler wrapper: { family: "openmpi" | "mpich", includeDirs, ldflags }.
 * Throws when the wrapper is missing or answers neither dialect.
 */
export function mpiFlags(mpicc = mpiCompiler()) {
  let family, compile, link;
  try {
    compile = run(mpicc, ["--showme:compile"]);
    link = run(mpicc, ["--showme:link"]);
    family = "openmpi";
  } catch {
    // MPICH (and Intel MPI, MVAPICH): the first word is the underlying compiler; drop it.
    compile = run(mpicc, ["-compile_info"]).split(/\s+/).slice(1).join(" ");
    link = run(mpicc, ["-link_info"]).split(/\s+/).slice(1).join(" ");
    family = "mpich";
  }
  const words = (s) => s.split(/\s+/).filter(Boolean);
  const includeDirs = words(compile).filter((w) => w.startsWith("-I")).map((w) => w.slice(2));
  const ldflags = words(link).filter((w) => /^-(L|l|Wl,)/.test(w));
  // An MPI outside the loader's default path (e.g. /opt/openmpi) must still be found at run time.
  const systemDir = /^\/(usr\/)?lib(64)?(\/[^/]+-linux-gnu)?\/?$/;
  for (const w of ldflags.filter((f) => f.startsWith("-L") && !systemDir.test(f.slice(2)))) {
    ldflags.push(`-Wl,-rpath,${w.slice(2)}`);
  }
  return { family, includeDirs, ldflags };
}

/**
 * node-addon-api's header directory, resolved from the package root so that it works from any
 * out dir. (binding.gyp does not depend on node-addon-api's gyp target: gyp would write that
 * target's makefile outside the build directory when the build directory is elsewhere.)
 */
export function napiInclude() {
  const require = createRequire(path.join(packageRoot, "package.json"));
  return path.dirname(require.resolve("node-addon-api/package.json"));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const what = process.argv[2];
  if (what === "--napi-include") {
    console.log(napiInclude());
  } else if (what === "--include-dirs" || what === "--ldflags") {
    let flags;
    try {
      flags = mpiFlags();
    } catch (err) {
      console.error(`mpi-flags: cannot get MPI flags from ${JSON.stringify(mpiCompiler())}: ${err.message}`);
      process.exit(1);
    }
    console.log((what === "--include-dirs" ? flags.includeDirs : flags.ldflags).join(" "));
  } else {
    console.error("usage: node scripts/mpi-flags.mjs --include-dirs | --ldflags | --napi-include");
    process.exit(2);
  }
}
