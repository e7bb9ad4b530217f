import assert from "node:assert/strict";
import { RecentLines, prettyLine, recentLogs } from "../../src/log.js";

describe("log lines", () => {
  it("logging.format pretty: one readable line per pino line, fields after the message", () => {
    const json = JSON.stringify({ level: 40, time: 0, pid: 7, hostname: "n1", rank: 2, role: "worker", component: "worker", rss: 5, reason: "memory use", msg: "pausing" });
    assert.equal(prettyLine(json), "1970-01-01T00:00:00.000Z WARN  worker 2 worker: pausing rss=5 reason=memory use\n");
    assert.equal(prettyLine(JSON.stringify({ level: 30, time: 0, msg: "hi", err: { code: 1 } })), '1970-01-01T00:00:00.000Z INFO  : hi err={"code":1}\n');
  });

  // getSchedulerLogs / getWorkerLogs: each process keeps its last lines in a ring
  it("recent lines: the last n, oldest first, across the ring's wrap; n beyond what is kept gives all", () => {
    const r = new RecentLines(3);
    assert.deepEqual(r.last(5), []);
    for (const l of ["a", "b"]) r.add(l);
    assert.deepEqual(r.last(5), ["a", "b"]);
    for (const l of ["c", "d", "e"]) r.add(l);
    assert.deepEqual(r.last(3), ["c", "d", "e"]);
    assert.deepEqual(r.last(2), ["d", "e"]);
    assert.deepEqual(r.last(0), []);
    r.add("f");
    assert.deepEqual(r.last(10), ["d", "e", "f"]);
    // a count from the wire that is not one is refused, not read as "all"
    for (const bad of [-1, 1.5, NaN]) assert.throws(() => recentLogs(bad), { name: "RangeError", message: `the number of log lines must be an integer >= 0, got ${bad}` });
  });
});
