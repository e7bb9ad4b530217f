// Pure parts of issue 19 (Jupyter next to the scheduler): the client's option checks, the
// start-jupyter parser, the scheduler's defaults and how a running server compares with a new
// request, Jupyter's command line and environment (the token never on the command line), the
// URLs, the token blanked out of Jupyter's output, and the process tree the guard ends.
import assert from "node:assert/strict";
import { startJupyterMessage } from "../../src/client/jupyter.js";
import { conflicts, findCommand, findSubcommand, jupyterArgs, jupyterEnv, probeHost, redact, resolveRequest, urlHost } from "../../src/extensions/jupyter/spec.js";
import { descendants } from "../../src/extensions/jupyter/tree.js";
import { parseStartJupyter } from "../../src/protocol/messages-jupyter.js";

describe("jupyter: pure parts", () => {
  it("startJupyter's options: checked and copied into start-jupyter (absent ones left out)", () => {
    assert.deepEqual(startJupyterMessage({}), { op: "start-jupyter" });
    assert.deepEqual(startJupyterMessage({ app: "lab", ip: "10.0.0.1", port: 8888, kernel: "tslab", notebookDir: "nb", command: "/opt/jupyter", timeout: 5000 }), {
      op: "start-jupyter", app: "lab", ip: "10.0.0.1", port: 8888, kernel: "tslab", notebookDir: "nb", command: "/opt/jupyter", timeout: 5000,
    });
    const bad: Array<[unknown, RegExp]> = [
      [{ port: 70000 }, /^startJupyter's port must be an integer from 0 to 65535, got 70000$/],
      [{ port: 1.5 }, /port must be an integer/],
      [{ port: "8888" }, /^startJupyter's port must be an integer from 0 to 65535, got "8888"$/],
      [{ timeout: 0 }, /^startJupyter's timeout must be a number of ms > 0, got 0$/],
      [{ kernel: "" }, /^startJupyter's kernel must be a non-empty string, got ""$/],
      [{ ip: 1 }, /^startJupyter's ip must be a non-empty string, got 1$/],
      [{ app: "JupyterLab" }, /^startJupyter's app must be one of "notebook", "lab", got "JupyterLab"$/],
      [{ kernal: "tslab" }, /^startJupyter got unknown option\(s\) "kernal"; it takes app, ip, port, kernel, notebookDir, command, timeout$/],
      [null, /^startJupyter's options must be an object, got null$/],
    ];
    for (const [o, re] of bad) assert.throws(() => startJupyterMessage(o as object), (e: Error) => e instanceof TypeError && re.test(e.message), JSON.stringify(o));
  });

  it("the scheduler checks start-jupyter's fields itself (a ProtocolError names the bad one)", () => {
    assert.deepEqual(parseStartJupyter({ op: "start-jupyter", port: 0 }), { op: "start-jupyter", port: 0 });
    for (const [m, re] of [
      [{ port: -1 }, /port must be an integer from 0 to 65535, got -1/],
      [{ app: "voila" }, /app must be one of notebook, lab, got "voila"/],
      [{ timeout: Infinity }, /timeout must be a number of ms > 0/],
      [{ notebookDir: "a\0b" }, /notebookDir must be a non-empty string without NUL/],
      [{ command: 7 }, /command must be a string, got 7/],
    ] as const) {
      assert.throws(() => parseStartJupyter({ op: "start-jupyter", ...m }), (e: Error) => e.name === "ProtocolError" && re.test(e.message), JSON.stringify(m));
    }
  });

  it("defaults: notebook, the scheduler's advertised host, a free port, tslab, the scheduler's directory, jupyter on PATH, 60 s", () => {
    assert.deepEqual(resolveRequest({ op: "start-jupyter" }, "node042", "/home/u/proj"), {
      app: "notebook", ip: "node042", port: 0, kernel: "tslab", notebookDir: "/home/u/proj", command: "jupyter", timeoutMs: 60_000,
    });
    assert.equal(resolveRequest({ op: "start-jupyter", notebookDir: "nb" }, "h", "/home/u/proj").notebookDir, "/home/u/proj/nb");
  });

  it("a running server serves a request that asks for nothing else; each difference is named", () => {
    const running = { app: "notebook" as const, ip: "127.0.0.1", port: 40000, kernel: "tslab", notebookDir: "/p", command: "jupyter" };
    assert.deepEqual(conflicts(running, { op: "start-jupyter" }, "/p"), []);
    assert.deepEqual(conflicts(running, { op: "start-jupyter", port: 0, notebookDir: ".", kernel: "tslab" }, "/p"), [], "port 0 and the same directory ask for nothing else");
    assert.deepEqual(conflicts(running, { op: "start-jupyter", port: 8888, kernel: "python3", app: "lab" }, "/p"), ['app "lab" (it has "notebook")', 'port 8888 (it has 40000)', 'kernel "python3" (it has "tslab")']);
  });

  it("jupyter is found as a path, or on PATH; its subcommand beside it first", () => {
    const files = new Set(["/opt/j/bin/jupyter", "/opt/j/bin/jupyter-lab", "/usr/bin/jupyter", "/usr/bin/jupyter-notebook"]);
    const x = (f: string) => files.has(f);
    assert.equal(findCommand("jupyter", "/nope:/usr/bin", x), "/usr/bin/jupyter");
    assert.equal(findCommand("jupyter", "::/opt/j/bin:/usr/bin", x), "/opt/j/bin/jupyter");
    assert.equal(findCommand("jupyter", undefined, x), undefined);
    assert.equal(findCommand("/opt/j/bin/jupyter", "", x), "/opt/j/bin/jupyter");
    assert.equal(findCommand("/missing/jupyter", "/usr/bin", x), undefined);
    assert.equal(findSubcommand("/opt/j/bin/jupyter", "lab", "/usr/bin", x), "/opt/j/bin/jupyter-lab");
    assert.equal(findSubcommand("/opt/j/bin/jupyter", "notebook", "/usr/bin", x), "/usr/bin/jupyter-notebook");
    assert.equal(findSubcommand("/usr/bin/jupyter", "lab", "/usr/bin", x), undefined);
  });

  // protects: the token is not on a command line, where any user of the node can read it
  it("Jupyter's command line has no token; the token, runtime dir, kernel dirs and scheduler file go in its environment", () => {
    const args = jupyterArgs({ app: "notebook", ip: "10.1.2.3", kernel: "tslab", notebookDir: "/p" }, 41000, false);
    assert.deepEqual(args, ["notebook", "--no-browser", "--ip=10.1.2.3", "--port=41000", "--port-retries=0", "--notebook-dir=/p", "--MappingKernelManager.default_kernel_name=tslab"]);
    assert.equal(jupyterArgs({ app: "lab", ip: "h", kernel: "k", notebookDir: "/p" }, 1, true).at(-1), "--allow-root");
    const env = jupyterEnv({ PATH: "/usr/bin", JUPYTER_PATH: "/site" }, { token: "t0k", runtimeDir: "/tmp/r", schedulerFile: "/p/s.json", kernelDirs: ["/pkg/.tslab/share/jupyter"] });
    assert.deepEqual(env, { PATH: "/usr/bin", JUPYTER_PATH: "/pkg/.tslab/share/jupyter:/site", JUPYTER_TOKEN: "t0k", JUPYTER_RUNTIME_DIR: "/tmp/r", DASK_SCHEDULER_FILE: "/p/s.json" });
    assert.equal(jupyterEnv({}, { token: "t", runtimeDir: "/r", schedulerFile: "/s", kernelDirs: [] }).JUPYTER_PATH, undefined);
  });

  it("URLs: a wildcard address by the host's name, IPv6 in brackets; probes of a wildcard go to loopback", () => {
    assert.deepEqual([urlHost("10.0.0.5", "n1"), urlHost("0.0.0.0", "n1"), urlHost("::", "n1"), urlHost("fe80::1", "n1")], ["10.0.0.5", "n1", "n1", "[fe80::1]"]);
    assert.deepEqual([probeHost("10.0.0.5"), probeHost("0.0.0.0"), probeHost("::"), probeHost("::1")], ["10.0.0.5", "127.0.0.1", "[::1]", "[::1]"]);
  });

  it("the token is blanked out of every line of Jupyter's output", () => {
    assert.equal(redact("http://h:1/?token=abc and abc again", "abc"), "http://h:1/?token=<token> and <token> again");
    assert.equal(redact("no token here", "abc"), "no token here");
  });

  // protects: kernels (in sessions of their own, out of Jupyter's group) are found below Jupyter to be ended
  it("descendants: every process below a pid, with its start time, from a process table", () => {
    const table = new Map<number, [number, string]>([
      [1, [0, "1"]], [10, [1, "5"]], [11, [10, "6"]], [12, [11, "7"]], [13, [10, "8"]], [20, [1, "9"]],
    ]);
    assert.deepEqual(descendants(10, table).sort((a, b) => a.pid - b.pid), [{ pid: 11, start: "6" }, { pid: 12, start: "7" }, { pid: 13, start: "8" }]);
    assert.deepEqual(descendants(20, table), []);
    assert.ok(descendants(process.ppid).some((p) => p.pid === process.pid), "the live table has this process below its parent");
  });
});
