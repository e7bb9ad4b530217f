#!/usr/bin/env node
/**
 * Installs the TypeScript kernel for Jupyter (tslab) where dask-mpi-ts finds it, for
 * client.startJupyter() and notebooks that connect to a cluster:
 *
 *   npm run setup:jupyter                 # tslab into .tslab/ of this package, its kernel spec beside it
 *   npm run setup:jupyter -- --user       # and registered with your own Jupyter (jupyter kernelspec install --user)
 *   node scripts/setup-jupyter.mjs --prefix DIR [--jupyter /path/to/jupyter]
 *
 * tslab goes into a prefix of its own (default: .tslab/ in the package), as `npm install -g
 * tslab` (tslab's documented install) would lay it out there, not into the package's
 * node_modules, so `npm ci` stays lean. Its kernel spec (share/jupyter/kernels/tslab) names this
 * Node and tslab by absolute path; startJupyter() adds <package>/.tslab/share/jupyter
 * to Jupyter's JUPYTER_PATH (with --prefix elsewhere, add DIR/share/jupyter yourself, or --user).
 *
 * Needs Jupyter itself (Debian/Ubuntu: apt-get install jupyter-notebook jupyter-client) and the
 * npm registry.
 * tslab's one native part is zeromq 6, whose npm package carries prebuilt addons (Linux x64 and
 * arm64 with glibc or musl, macOS, Windows): nothing is compiled or downloaded besides the npm
 * packages; install scripts are not run, and the addon is loaded once here to prove it works.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The tslab release installed (it needs Node >= 18; zeromq 6 comes with it). */
const TSLAB_VERSION = "1.0.22";
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const JUPYTER_HINT = "install Jupyter first: apt-get install jupyter-notebook jupyter-client (Debian, Ubuntu), or pip install notebook";

function fail(message) {
  process.stderr.write(`setup:jupyter: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const o = { user: false, prefix: path.join(ROOT, ".tslab"), jupyter: "jupyter" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v === "") fail(`${a} needs a value`);
      return v;
    };
    if (a === "--user") o.user = true;
    else if (a === "--prefix") o.prefix = path.resolve(value());
    else if (a === "--jupyter") o.jupyter = value();
    else if (a === "--help" || a === "-h") {
      process.stdout.write("usage: node scripts/setup-jupyter.mjs [--user] [--prefix DIR] [--jupyter /path/to/jupyter]\n");
      process.exit(0);
    } else fail(`unknown argument ${JSON.stringify(a)} (--user, --prefix DIR, --jupyter CMD)`);
  }
  return o;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 600_000, ...opts });
  if (r.error) return { ok: false, out: "", err: r.error.code === "ENOENT" ? `${cmd}: not found` : r.error.message };
  return { ok: r.status === 0, out: r.stdout ?? "", err: r.stderr ?? "", status: r.status };
}

const o = parseArgs(process.argv.slice(2));

// 1. Jupyter, which the kernel is for
const version = run(o.jupyter, ["--version"]);
if (!version.ok) fail(`${o.jupyter} does not run (${version.err.trim().split("\n").pop() || `exit ${version.status}`}): ${JUPYTER_HINT}, then run this again`);

// 2. tslab into the prefix as `npm install -g` would put it (its dependencies nested under it: tslab
//    falls back to the @types/node of its own node_modules when the notebook's project has none);
//    no install scripts (zeromq's would try a build only if its prebuilt addon failed)
fs.mkdirSync(o.prefix, { recursive: true });
process.stdout.write(`installing tslab ${TSLAB_VERSION} into ${o.prefix} ...\n`);
const install = run("npm", ["install", "--global", "--prefix", o.prefix, "--no-audit", "--no-fund", "--ignore-scripts", `tslab@${TSLAB_VERSION}`], { stdio: ["ignore", "inherit", "inherit"] });
if (!install.ok) fail(`npm install --global --prefix ${o.prefix} tslab@${TSLAB_VERSION} failed (${install.err || `exit ${install.status}`}); the npm registry must be reachable`);
const tslabDir = path.join(o.prefix, "lib", "node_modules", "tslab");

// 3. the native part: zeromq's prebuilt addon must load on this machine
const zmq = run(process.execPath, ["-e", "const z = require('zeromq'); process.stdout.write(z.version)"], { cwd: tslabDir });
if (!zmq.ok) {
  fail(
    `tslab's zeromq addon does not load here (${process.platform}-${process.arch}, Node ${process.versions.node}): ${zmq.err.trim().split("\n").slice(0, 3).join(" ")}. ` +
      `zeromq 6 ships prebuilt addons for Linux x64/arm64 (glibc, musl), macOS and Windows; elsewhere it must be built from source ` +
      `(cmake-ts and vcpkg, which download libzmq): run "npm rebuild zeromq --foreground-scripts" in ${tslabDir} on a machine that can`,
  );
}

// 4. the kernel spec, naming this Node and tslab by absolute path (no PATH lookups when Jupyter starts it)
const tslab = path.join(tslabDir, "bin", "tslab");
if (!fs.existsSync(tslab)) fail(`npm installed no ${tslab}`);
const kernelDir = path.join(o.prefix, "share", "jupyter", "kernels", "tslab");
fs.mkdirSync(kernelDir, { recursive: true });
const spec = { argv: [process.execPath, tslab, "kernel", "--config-path", "{connection_file}"], display_name: "TypeScript", language: "typescript" };
fs.writeFileSync(path.join(kernelDir, "kernel.json"), JSON.stringify(spec, null, 2) + "\n");

// 5. optionally with the user's own Jupyter, then check what Jupyter sees
if (o.user) {
  const r = run(o.jupyter, ["kernelspec", "install", "--user", "--replace", "--name", "tslab", kernelDir]);
  if (!r.ok) fail(`jupyter kernelspec install --user failed: ${r.err.trim()}`);
}
const dataDir = path.join(o.prefix, "share", "jupyter");
const env = { ...process.env, JUPYTER_PATH: [dataDir, process.env.JUPYTER_PATH].filter(Boolean).join(":") };
const list = run(o.jupyter, ["kernelspec", "list", "--json"], { env });
if (!list.ok) fail(`jupyter kernelspec list does not run (${list.err.trim().split("\n").pop()}): apt-get install jupyter-client (Debian, Ubuntu), or pip install jupyter_client`);
let found;
try {
  found = JSON.parse(list.out).kernelspecs?.tslab;
} catch {
  fail(`jupyter kernelspec list --json gave no JSON (${list.err.trim() || list.out.slice(0, 200)})`);
}
if (!found) fail(`jupyter does not list the tslab kernel with JUPYTER_PATH=${env.JUPYTER_PATH}: ${list.err.trim()}`);
process.stdout.write(
  `tslab ${TSLAB_VERSION} (libzmq ${zmq.out}, prebuilt in zeromq) is installed: kernel "tslab" in ${found.resource_dir}\n` +
    (o.prefix === path.join(ROOT, ".tslab") ? "client.startJupyter() finds it there.\n" : `for client.startJupyter(), set JUPYTER_PATH=${dataDir} where the scheduler runs (or use --user).\n`) +
    (o.user ? "it is also registered with your own Jupyter (--user).\n" : ""),
);
