/**
 * The layering of DESIGN.md section 7 (dependency-cruiser 16, Node >= 20).
 *   protocol <- comm <- {scheduler, worker, nanny, client} <- deploy <- {mpi, jobqueue, cli}
 * config is read at run time by deploy only; pure state machines import no I/O; the scheduler imports
 * no extension; no cycles (type-only imports count). Base modules may be imported by anyone and import
 * no layer. Lower layers may be skipped (mpi may name a client type); upward or sideways never.
 */
const BASE = "^src/(errors|log|status|version|units|files)\\.ts$";
const ROLES = "^src/(scheduler|worker|nanny|client)/";
const PURE = "^src/(scheduler/state|worker/state-machine)[^/]*\\.ts$";
const EXTENSIONS = "^src/(dashboard|extensions)/";

/** from `layer`, nothing but base, the layers listed and itself */
const onlyBelow = (name, layer, allowed, comment) => ({
  name, severity: "error", comment,
  from: { path: `^src/${layer}/` },
  to: { path: "^src/", pathNot: [BASE, `^src/(${[layer, ...allowed].join("|")})/`] },
});

module.exports = {
  forbidden: [
    { name: "no-circular", severity: "error", comment: "no cycles, type-only imports included", from: {}, to: { circular: true } },
    { name: "not-to-unresolvable", severity: "error", from: {}, to: { couldNotResolve: true } },
    { name: "no-dev-deps-in-src", severity: "error", from: { path: "^src/" }, to: { dependencyTypes: ["npm-dev"] } },
    { name: "no-orphans", severity: "warn", from: { orphan: true, pathNot: ["\\.d\\.ts$", "^src/(index|api|lazy)\\.ts$", "/index\\.ts$", "/worker-process\\.ts$", "/task-thread\\.ts$", "/agent\\.ts$"] }, to: {} },

    { name: "base-is-a-leaf", severity: "error", comment: "errors/log/status/version/units import no layer", from: { path: BASE }, to: { path: "^src/[^/]+/" } },
    onlyBelow("protocol-bottom", "protocol", [], "protocol imports only base"),
    onlyBelow("comm-over-protocol", "comm", ["protocol"], "comm: protocol and base"),
    onlyBelow("config-knows-no-roles", "config", [], "config knows keys and units, never the roles"),
    onlyBelow("scheduler-role", "scheduler", ["protocol", "comm"], "no other role, no config, no extension"),
    onlyBelow("worker-role", "worker", ["protocol", "comm"], "no other role, no config"),
    onlyBelow("client-role", "client", ["protocol", "comm"], "no other role, no config"),
    onlyBelow("nanny-role", "nanny", ["protocol", "comm", "worker"], "the nanny runs a worker in its child; nothing else"),
    onlyBelow("dashboard-extension", "dashboard", ["protocol", "comm", "scheduler"], "an extension sees the scheduler's extension interface"),
    onlyBelow("scheduler-extensions", "extensions", ["protocol", "comm", "scheduler"], "server-side extensions see the scheduler's extension interface"),
    onlyBelow("deploy-over-roles", "deploy", ["protocol", "comm", "config", "scheduler", "worker", "nanny", "client", "dashboard", "extensions"], "deploy never imports its launchers"),
    onlyBelow("mpi-launcher", "mpi", ["protocol", "comm", "config", "scheduler", "worker", "nanny", "client", "deploy"], "mpi: addon, bootstrap/end protocol, initialize()"),
    onlyBelow("jobqueue-launcher", "jobqueue", ["protocol", "comm", "config", "scheduler", "worker", "nanny", "client", "deploy", "drmaa"], "jobqueue never imports mpi or cli"),
    onlyBelow("drmaa-leaf", "drmaa", [], "the DRMAA binding knows no layer"),
    {
      name: "config-read-by-deploy-only", severity: "error",
      comment: "launchers get configuration through deploy; they may name its types",
      from: { path: "^src/(mpi|jobqueue|cli)/|^src/(index|api|lazy)\\.ts$", pathNot: "^src/cli/config-command\\.ts$" },
      to: { path: "^src/config/", dependencyTypesNot: ["type-only"] },
    },
    { name: "config-types-above-deploy-only", severity: "error", from: { path: "^src/", pathNot: "^src/(config|deploy|mpi|jobqueue|cli)/" }, to: { path: "^src/config/" } },
    {
      name: "launchers-start-roles-through-deploy", severity: "error",
      comment: "mpi/jobqueue/cli call deploy's start functions; they may name role types",
      from: { path: "^src/(mpi|jobqueue|cli)/" },
      to: { path: `${ROLES}|${EXTENSIONS}`, dependencyTypesNot: ["type-only"] },
    },
    { name: "scheduler-imports-no-extension", severity: "error", from: { path: "^src/scheduler/" }, to: { path: EXTENSIONS } },
    { name: "extensions-registered-by-deploy", severity: "error", from: { path: "^src/", pathNot: [EXTENSIONS, "^src/deploy/"] }, to: { path: EXTENSIONS, dependencyTypesNot: ["type-only"] } },
    {
      name: "pure-cores-no-io", severity: "error",
      comment: "scheduler/state*.ts and worker/state-machine*.ts: events in, instructions out; no node: builtins, no npm, no comm",
      from: { path: PURE },
      to: { pathNot: [BASE, PURE, "^src/protocol/(messages|ops)[^/]*\\.ts$"] },
    },
    {
      name: "light-entry", severity: "error",
      comment: "the package entry loads the client only; the rest is lazy or a subpath export (start-up on every rank)",
      from: { path: "^src/(index|api|lazy)\\.ts$" },
      to: { path: "^src/(jobqueue|drmaa|dashboard|scheduler|worker|nanny|deploy|mpi|config|cli)/", dependencyTypesNot: ["type-only", "dynamic-import"] },
    },
    { name: "nothing-imports-cli", severity: "error", from: { path: "^src/", pathNot: "^src/cli/" }, to: { path: "^src/cli/" } },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|build|native)/" },
    tsPreCompilationDeps: true, // type-only imports are edges (the client<->future cycle is type-only)
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"], extensions: [".ts", ".js", ".d.ts"] },
  },
};
