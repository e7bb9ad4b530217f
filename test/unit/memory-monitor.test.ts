// The memory monitor's pace (worker/memory.ts nextCheckMs, used by the worker and the nanny):
// far below the thresholds it checks up to ten times less often, near one or while memory grows
// fast it checks every base interval, as before.
import assert from "node:assert/strict";
import { ASSUMED_GROWTH, MONITOR_STRETCH_MAX, nextCheckMs } from "../../src/worker/memory.js";

const MiB = 2 ** 20;
const limit = 1000 * MiB;
const base = 100;
const at = (bytes: number, atMs: number) => ({ bytes, atMs });

describe("memory monitor pace", () => {
  it("waits the longest far below the lowest threshold, one interval near it", () => {
    assert.equal(nextCheckMs(at(50 * MiB, 0), undefined, limit, [0.6, 0.7, 0.8, 0.95], base), base * MONITOR_STRETCH_MAX);
    // 0.6 of the limit is 600 MiB: 100 MiB below it is two intervals at the assumed growth (50 MiB each)
    assert.equal(ASSUMED_GROWTH * limit, 50 * MiB);
    assert.equal(nextCheckMs(at(500 * MiB, 0), undefined, limit, [0.6, 0.7, 0.8, 0.95], base), 2 * base);
    assert.equal(nextCheckMs(at(590 * MiB, 0), undefined, limit, [0.6, 0.7, 0.8, 0.95], base), base);
    // above it (spilling, paused): every interval
    assert.equal(nextCheckMs(at(900 * MiB, 0), undefined, limit, [0.6, 0.7, 0.8, 0.95], base), base);
  });

  it("the lowest threshold that is set counts; none set, or no limit: the longest wait", () => {
    assert.equal(nextCheckMs(at(500 * MiB, 0), undefined, limit, [false, false, false, 0.95], base), base * 9);
    assert.equal(nextCheckMs(at(500 * MiB, 0), undefined, limit, [false, false, false, false], base), base * MONITOR_STRETCH_MAX);
    assert.equal(nextCheckMs(at(500 * MiB, 0), undefined, 0, [0.6], base), base * MONITOR_STRETCH_MAX);
  });

  it("memory growing faster than assumed brings the checks back to every interval", () => {
    // 100 MiB in one interval, 450 MiB below the threshold: four intervals at that pace
    assert.equal(nextCheckMs(at(150 * MiB, 1100), at(50 * MiB, 1000), limit, [0.6], base), 4 * base);
    // 400 MiB in one interval
    assert.equal(nextCheckMs(at(450 * MiB, 1100), at(50 * MiB, 1000), limit, [0.6], base), base);
    // shrinking: as without a reading before
    assert.equal(nextCheckMs(at(50 * MiB, 2000), at(450 * MiB, 1000), limit, [0.6], base), base * MONITOR_STRETCH_MAX);
  });
});
