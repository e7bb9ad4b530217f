import assert from "node:assert/strict";
import { parseDaskMpiArgs } from "../../src/cli/dask-mpi.js";
import { parseBytes, parseDuration, parseMemoryLimit } from "../../src/units.js";
import { defaultRouteInterface } from "../../src/comm/interfaces.js";
import { parseAddress } from "../../src/comm/address.js";

describe("command line and units", () => {
  it("stops at the script: its flags are its own", () => {
    const a = parseDaskMpiArgs(["--nthreads", "2", "--no-nanny", "app.js", "--input", "data/"]);
    assert.ok(a !== "help");
    assert.equal(a.cluster.nthreads, 2);
    assert.equal(a.cluster.nanny, false);
    assert.equal(a.script, "app.js");
    assert.deepEqual(a.scriptArgs, ["--input", "data/"]);
  });

  it("names the bad flag and value", () => {
    assert.throws(() => parseDaskMpiArgs(["--nthreads", "zero"]), { code: "ERR_CONFIG", message: '--nthreads must be a positive integer, got "zero"' });
    assert.throws(() => parseDaskMpiArgs(["--bogus"]), { message: 'unknown flag "--bogus"; see --help' });
    assert.throws(() => parseDaskMpiArgs(["--scheduler-port", "70000"]), { message: '--scheduler-port must be a port number from 0 to 65535, got "70000"' });
    assert.throws(() => parseDaskMpiArgs(["--memory-limit", "lots"]), /--memory-limit must be a size like 10GB/);
    assert.throws(() => parseDaskMpiArgs(["--no-scheduler"]), /--no-scheduler needs --scheduler-file or --scheduler-address/);
    assert.throws(() => parseDaskMpiArgs(["--death-timeout", "soon"]), /--death-timeout must be a duration/);
    assert.throws(() => parseDaskMpiArgs(["--no-mpi", "--no-scheduler", "--scheduler-file", "f"]), /--no-mpi and --no-scheduler do not go together/);
  });

  it("parses sizes, memory limits and durations as Dask users write them", () => {
    assert.equal(parseBytes("10GB"), 10e9);
    assert.equal(parseBytes("10GiB"), 10 * 2 ** 30);
    assert.equal(parseBytes("512"), 512);
    const node = { totalBytes: 64e9, workersOnNode: 4 };
    assert.equal(parseMemoryLimit("auto", node), 16e9);
    assert.equal(parseMemoryLimit("0.25", node), 16e9);
    assert.equal(parseMemoryLimit("none", node), 0);
    assert.equal(parseMemoryLimit("0", node), 0);
    assert.equal(parseMemoryLimit("8GB", node), 8e9);
    assert.throws(() => parseMemoryLimit("100GB", node), /more than this node's memory/);
    assert.equal(parseDuration("30s"), 30_000);
    assert.equal(parseDuration("5m"), 300_000);
    assert.equal(parseDuration("90"), 90_000);
  });

  it("finds the default route's interface in a route table", () => {
    const table = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n" +
      "ib0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n" +
      "eth1\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\n";
    assert.equal(defaultRouteInterface(table), "eth1");
    assert.equal(defaultRouteInterface("Iface\tDestination\n"), undefined);
  });

  it("parses addresses and rejects malformed ones", () => {
    assert.deepEqual(parseAddress("tcp://10.1.2.3:8786"), { scheme: "tcp", host: "10.1.2.3", port: 8786 });
    assert.throws(() => parseAddress("tcp://host"), /address must look like tcp:\/\/host:port or tls:\/\/host:port, got "tcp:\/\/host"/);
  });
});
