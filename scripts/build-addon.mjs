#!/usr/bin/env node
/**
 * Builds the native MPI addon.
 *
 *   node scripts/build-addon.mjs                 # cmake-js -> build/Release/dask_mpi_ts.node
 *   node scripts/build-addon.mjs --gyp           # node-gyp -> build/gyp/Release/dask_mpi_ts.node
 *   node scripts/build-addon.mjs --out DIR       # either one -> DIR/Release/dask_mpi_ts.node
 *   MPICC=mpicc.mpich node scripts/build-addon.mjs --out build/mpich   # an MPICH build beside it
 *   node scripts/build-addon.mjs --drmaa [--gyp]   # the DRMAA binding -> build/drmaa/Release/dask_drmaa.node
 *
 * Environment: MPICC (MPI compiler wrapper, default mpicc), DASK_MPI_TS_BUILD_DIR (same as
 * --out), DASK_MPI_TS_REQUIRE_ADDON=1 (fail instead of warn at `npm install`); for --drmaa,
 * DRMAA_INCLUDE_DIR (where drmaa.h is; default: the usual places) and
 * DASK_MPI_TS_REQUIRE_DRMAA=1. The DRMAA binding is built only where a drmaa.h is found.
 *
 * As the package's `install` script the addon is optional: without an MPI compiler, or when the
 * build fails, it prints a warning and exits 0, because the scheduler-file modes need no MPI.
 * Run any other way (`npm run build:addon`, or directly), a failure exits non-zero.
 * Offline: cmake-js runs in Node-API mode (native/package.json), node-gyp gets --nodedir.
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { mpiCompiler, packageRoot } from "./mpi-flags.mjs";

const ADDON_FILE = "dask_mpi_ts.node";
const INSTALL_HINT = "install MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev), then run: npm run build:addon";

function parseArgs(argv) {
  const opts = { gyp: false, drmaa: false, out: process.env.DASK_MPI_TS_BUILD_DIR || undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--gyp") opts.gyp = true;
    else if (a === "--cmake") opts.gyp = false;
    else if (a === "--drmaa") opts.drmaa = true;
    else if (a === "--out") opts.out = argv[++i];
    else if (a.startsWith("--out=")) opts.out = a.slice("--out=".length);
    else if (a === "--help" || a === "-h") opts.help = true;
    else throw new Error(`unknown argument ${JSON.stringify(a)} (expected --gyp, --out DIR, --help)`);
  }
  if (opts.out === undefined || opts.out === "") opts.out = opts.drmaa ? "build/drmaa" : opts.gyp ? "build/gyp" : "build";
  return opts;
}

/** Absolute path of an executable, looked up on PATH unless it contains a slash. */
function findExecutable(name) {
  const candidates = name.includes("/") ? [path.resolve(name)] : (process.env.PATH || "").split(path.delimiter).filter(Boolean).map((d) => path.join(d, name));
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      if (fs.statSync(c).isFile()) return c;
    } catch {
      // not here
    }
  }
  return undefined;
}

function run(cmd, args, options) {
  console.log(`build-addon: ${[cmd, ...args].join(" ")}${options.cwd ? `   (in ${options.cwd})` : ""}`);
  const r = spawnSync(cmd, args, { stdio: "inherit", ...options });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} exited with ${r.status ?? r.signal}`);
}

function buildCmake(out, mpicc, env) {
  if (!findExecutable("cmake")) throw new Error("cmake not found on PATH (apt-get install cmake), or build with node-gyp: node scripts/build-addon.mjs --gyp");
  const require = createRequire(path.join(packageRoot, "package.json"));
  const cmakeJs = require.resolve("cmake-js/bin/cmake-js");
  // FindMPI caches its answer: a build dir configured for another MPI compiler starts over.
  const stamp = path.join(out, ".dask-mpi-ts-mpicc");
  const previous = fs.existsSync(stamp) ? fs.readFileSync(stamp, "utf8") : undefined;
  if (previous !== mpicc) fs.rmSync(path.join(out, "CMakeCache.txt"), { force: true });
  run(process.execPath, [cmakeJs, "build", "-d", path.join(packageRoot, "native"), "-O", out, `--CDMPI_C_COMPILER=${mpicc}`, "-p", String(os.availableParallelism())], { cwd: packageRoot, env });
  fs.writeFileSync(stamp, mpicc);
  return path.join(out, "Release", ADDON_FILE);
}

function nodeGypScript() {
  const require = createRequire(path.join(packageRoot, "package.json"));
  const candidates = [
    process.env.npm_config_node_gyp,
    (() => {
      try {
        return require.resolve("node-gyp/bin/node-gyp.js");
      } catch {
        return undefined;
      }
    })(),
    // The copy bundled with npm.
    path.resolve(process.execPath, "../../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"),
  ];
  const found = candidates.find((c) => c && fs.existsSync(c));
  if (!found) throw new Error("node-gyp not found (npm install --save-dev node-gyp), or build with cmake-js: node scripts/build-addon.mjs");
  return found;
}

function buildGyp(out, env) {
  // node-gyp always builds in ./build next to binding.gyp: run it in `out` with a copy of
  // binding.gyp whose sources point back here by a relative path (gyp's make generator
  // mishandles absolute source paths).
  fs.mkdirSync(out, { recursive: true });
  fs.copyFileSync(path.join(packageRoot, "binding.gyp"), path.join(out, "binding.gyp"));
  const rel = path.relative(out, packageRoot) || ".";
  const nodedir = path.resolve(process.execPath, "../..");
  run(process.execPath, [nodeGypScript(), "rebuild", `--nodedir=${nodedir}`, `--dask_root=${rel}`, "-j", String(os.availableParallelism())], { cwd: out, env });
  const built = path.join(out, "build", "Release", ADDON_FILE);
  const target = path.join(out, "Release", ADDON_FILE);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.copyFileSync(built, target);
  return target;
}

/** Loads the fresh build in a child process (MPI_Get_library_version works before MPI_Init). */
function smokeTest(addon) {
  const code = `process.stdout.write(require(${JSON.stringify(addon)}).libraryVersion().split("\\n")[0])`;
  return execFileSync(process.execPath, ["-e", code], { encoding: "utf8", env: { ...process.env, UCX_MEM_EVENTS: process.env.UCX_MEM_EVENTS || "no" } });
}

/** Directory of drmaa.h: DRMAA_INCLUDE_DIR, else where Grid Engine and others put it. */
function drmaaInclude() {
  const dirs = process.env.DRMAA_INCLUDE_DIR ? [process.env.DRMAA_INCLUDE_DIR] : ["/usr/lib/gridengine-drmaa/include", "/usr/include", "/usr/local/include", "/usr/include/drmaa"];
  return dirs.find((d) => fs.existsSync(path.join(d, "drmaa.h")));
}

const DRMAA_HINT =
  "install a DRMAA library and its header (Debian/Ubuntu with Grid Engine: apt-get install gridengine-drmaa-dev), or set DRMAA_INCLUDE_DIR to the directory of drmaa.h, then run: npm run build:drmaa";

/** The DRMAA binding: optional at install (most sites have no DRMAA), built only with a drmaa.h. */
function buildDrmaa(opts) {
  const atInstall = process.env.npm_lifecycle_event === "install";
  const required = !atInstall || process.env.DASK_MPI_TS_REQUIRE_DRMAA === "1";
  const include = drmaaInclude();
  if (!include) {
    if (required) {
      console.error(`build-addon: error: no drmaa.h found${process.env.DRMAA_INCLUDE_DIR ? ` in DRMAA_INCLUDE_DIR=${process.env.DRMAA_INCLUDE_DIR}` : ""}\nbuild-addon: ${DRMAA_HINT}`);
      process.exit(1);
    }
    return; // nothing to say: DRMAACluster explains what to install when someone uses it
  }
  const out = path.resolve(packageRoot, opts.out);
  const file = "dask_drmaa.node";
  try {
    let built;
    if (opts.gyp) {
      const dir = path.join(packageRoot, "native", "drmaa");
      const nodedir = path.resolve(process.execPath, "../..");
      run(process.execPath, [nodeGypScript(), "rebuild", `--nodedir=${nodedir}`, `--drmaa_include=${include}`, "-j", String(os.availableParallelism())], { cwd: dir });
      built = path.join(out, "Release", file);
      fs.mkdirSync(path.dirname(built), { recursive: true });
      fs.copyFileSync(path.join(dir, "build", "Release", file), built);
      fs.rmSync(path.join(dir, "build"), { recursive: true, force: true });
    } else {
      if (!findExecutable("cmake")) throw new Error("cmake not found on PATH (apt-get install cmake), or build with node-gyp: --gyp");
      const require = createRequire(path.join(packageRoot, "package.json"));
      const cmakeJs = require.resolve("cmake-js/bin/cmake-js");
      run(process.execPath, [cmakeJs, "build", "-d", path.join(packageRoot, "native", "drmaa"), "-O", out, `--CDDRMAA_INCLUDE_DIR=${include}`, "-p", String(os.availableParallelism())], { cwd: packageRoot });
      built = path.join(out, "Release", file);
    }
    execFileSync(process.execPath, ["-e", `require(${JSON.stringify(built)}).load`], { stdio: "pipe" });
    console.log(`build-addon: built ${built} with ${opts.gyp ? "node-gyp" : "cmake-js"} (drmaa.h from ${include})`);
  } catch (err) {
    const message = `the DRMAA binding did not build: ${err.message}`;
    if (required) {
      console.error(`build-addon: error: ${message}`);
      process.exit(1);
    }
    console.warn(`build-addon: warning: ${message}; DRMAACluster will not work until it does (npm run build:drmaa)`);
  }
}

function main() {
  const atInstall = process.env.npm_lifecycle_event === "install";
  const required = !atInstall || process.env.DASK_MPI_TS_REQUIRE_ADDON === "1";
  const fail = (message) => {
    if (required) {
      console.error(`build-addon: error: ${message}\nbuild-addon: ${INSTALL_HINT}`);
      process.exit(1);
    }
    console.warn(
      `build-addon: warning: the native MPI addon was not built: ${message}\n` +
        `build-addon: dask-mpi-ts is installed without it; the scheduler-file modes work, the mpirun modes need it.\n` +
        `build-addon: to use MPI, ${INSTALL_HINT}`,
    );
    process.exit(0);
  };

  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`build-addon: error: ${err.message}`);
    process.exit(2);
  }
  if (opts.help) {
    console.log("usage: node scripts/build-addon.mjs [--drmaa] [--gyp] [--out DIR]   (env MPICC, DASK_MPI_TS_BUILD_DIR, DRMAA_INCLUDE_DIR)");
    return;
  }
  if (opts.drmaa) return buildDrmaa(opts);
  const mpicc = mpiCompiler();
  const mpiccPath = findExecutable(mpicc);
  if (!mpiccPath) fail(`no MPI compiler wrapper ${JSON.stringify(mpicc)} found${process.env.MPICC ? " (from MPICC)" : " on PATH"}`);

  const out = path.resolve(packageRoot, opts.out);
  const env = { ...process.env, MPICC: mpicc };
  let addon;
  try {
    addon = opts.gyp ? buildGyp(out, env) : buildCmake(out, mpicc, env);
    const version = smokeTest(addon);
    console.log(`build-addon: built ${addon} with ${opts.gyp ? "node-gyp" : "cmake-js"} against ${version} (${mpiccPath})`);
  } catch (err) {
    fail(`${opts.gyp ? "node-gyp" : "cmake-js"} build with ${mpicc} failed: ${err.message}`);
  }
}

main();
