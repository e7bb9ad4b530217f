// The client's heartbeat bookkeeping (src/client/heartbeat.ts): when a silent scheduler counts
// as lost, and that a client which was itself blocked does not blame the scheduler for it.
import assert from "node:assert/strict";
import { SilenceMeter, checkHeartbeat } from "../../src/client/heartbeat.js";

describe("client heartbeat", () => {
  const settings = { intervalMs: 100, timeoutMs: 1000 };

  // issue 12.6: silence of a hung scheduler adds up; any data from it resets the count
  it("silence adds up tick by tick and any read resets it", () => {
    const m = new SilenceMeter(settings, 7, 0);
    assert.equal(m.tick(7, 100), 100);
    assert.equal(m.tick(7, 200), 200);
    assert.equal(m.tick(8, 300), 0, "a read since the last tick is a sign of life");
    let t = 300;
    let silent = 0;
    while (silent < settings.timeoutMs) silent = m.tick(8, (t += 100));
    assert.equal(t, 1300, "lost one timeout after the last read");
  });

  // a long GC pause or synchronous loop in the client: the tick comes late, and the scheduler's
  // answers are still unread in the socket; that must not count as the scheduler's silence
  it("a late tick (this process was blocked) adds at most two intervals", () => {
    const m = new SilenceMeter(settings, 0, 0);
    assert.equal(m.tick(0, 60_000), 200);
    assert.equal(m.tick(1, 60_100), 0, "the reads waiting in the socket arrive after the timers");
    assert.equal(m.tick(1, 60_050), 0, "a clock that does not advance adds nothing");
    assert.equal(m.tick(1, 60_000), 0);
  });

  it("settings: defaults as Dask's client, and bad values named", () => {
    assert.deepEqual(checkHeartbeat(undefined, undefined), { intervalMs: 5000, timeoutMs: 30_000 });
    assert.deepEqual(checkHeartbeat(10_000, undefined), { intervalMs: 10_000, timeoutMs: 60_000 }, "the default timeout is at least 6 intervals");
    assert.deepEqual(checkHeartbeat(50, Infinity), { intervalMs: 50, timeoutMs: Infinity });
    assert.throws(() => checkHeartbeat(0, undefined), { name: "TypeError", message: "heartbeatInterval must be a number of milliseconds > 0, got 0" });
    assert.throws(() => checkHeartbeat("5s", undefined), { name: "TypeError", message: 'heartbeatInterval must be a number of milliseconds > 0, got "5s"' });
    assert.throws(() => checkHeartbeat(500, 500), { name: "TypeError", message: /^heartbeatTimeout must be a number of milliseconds greater than heartbeatInterval \(500\), or Infinity, got 500$/ });
    assert.throws(() => checkHeartbeat(undefined, NaN), { name: "TypeError", message: /greater than heartbeatInterval \(5000\), or Infinity, got NaN$/ });
  });
});
