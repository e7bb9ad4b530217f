// The client's key table: incarnations of keys, and which key-cancelled news concerns which.
import assert from "node:assert/strict";
import { KeyTable, failure, settle, settled } from "../../src/client/key-table.js";

describe("client key table", () => {
  // Regression (issue 12, after point 2): a key cancelled by this client and submitted again
  // must get a new incarnation, and the scheduler's key-cancelled for the old one, arriving
  // after the new submission, must not cancel the new one.
  it("ignores the news of this client's own cancel when it comes after the key was submitted again", () => {
    const t = new KeyTable();
    const first = t.add("k");
    assert.equal(t.release("k", first), true, "the cancel: ending 1");
    assert.equal(t.get("k"), undefined, "a cancelled incarnation leaves the table");
    const second = t.add("k", 1);
    assert.notEqual(second, first);
    assert.equal(t.cancelledByScheduler("k"), undefined, "the news of the own cancel is not about the new incarnation");
    assert.equal(t.get("k"), second);
    t.acked(1);
    // the next news is about the new incarnation: another client cancelled it, or a dependency
    assert.equal(t.cancelledByScheduler("k"), second);
    assert.equal(t.get("k"), undefined);
  });

  it("an incarnation made once every ending was acknowledged takes all its news", () => {
    const t = new KeyTable();
    t.release("k", t.add("k"));
    assert.equal(t.cancelledByScheduler("k"), undefined, "the own cancel's news: no live incarnation");
    t.acked(1);
    const again = t.add("k", 1);
    assert.equal(again.fence, undefined, "nothing to fence");
    assert.equal(t.cancelledByScheduler("k"), again, "nothing of the old cancel is left to swallow a new one");
  });

  // Found by reading (session 12): a user-named key released and submitted again with another
  // function was handed the old task's result, whose key-in-memory (with its small value
  // inline) the scheduler sent before it read the release.
  it("news of any kind read before the ending's ack concerns the ended incarnation, not the new one", () => {
    const t = new KeyTable();
    const first = t.add("x");
    t.release("x", first); // ending 1
    t.add("y", 1); // another key, made after the same ending: fenced too, harmlessly (its news comes after the ack)
    const second = t.add("x", 1);
    assert.equal(t.news("x"), undefined, "key-in-memory of the released task");
    assert.equal(t.news("y"), undefined);
    t.acked(1);
    assert.equal(t.news("x"), second);
    assert.equal(second.fence, undefined, "the fence is passed for good");
    t.release("x", second); // ending 2
    const third = t.add("x", 2);
    t.acked(1); // an older ack changes nothing
    assert.equal(t.news("x"), undefined);
    t.acked(3); // a later ending's ack covers it
    assert.equal(t.news("x"), third);
  });

  it("after the scheduler is lost no news counts until the resume is acknowledged", () => {
    const t = new KeyTable();
    const a = t.add("a");
    t.lost();
    assert.equal(t.news("a"), undefined, "news from the next scheduler before the resume");
    t.acked(5);
    assert.equal(t.news("a"), undefined, "not before the resume went out");
    t.resumed(7);
    t.acked(6);
    assert.equal(t.news("a"), undefined);
    t.acked(7);
    assert.equal(t.news("a"), a);
  });

  it("releases only the live incarnation, and news of an unknown key is about nothing", () => {
    const t = new KeyTable();
    const first = t.add("k");
    t.release("k", first);
    const second = t.add("k", 1);
    assert.equal(t.release("k", first), false, "letting go of an old future leaves the new incarnation alone");
    assert.equal(t.get("k"), second);
    assert.equal(t.release("k", second), true);
    assert.equal(t.get("k"), undefined);
    assert.equal(t.cancelledByScheduler("nobody"), undefined);
    assert.throws(() => {
      t.add("j");
      t.add("j");
    }, /key "j" already has a live incarnation/);
  });

  it("abandon() cancels the pending live incarnations and wakes their waiters", () => {
    const t = new KeyTable();
    const a = t.add("a");
    let woken = 0;
    (a.waiters ??= []).push(() => woken++);
    t.abandon();
    assert.equal(a.status, "cancelled");
    assert.equal(woken, 1);
    assert.equal(t.get("a"), undefined);
  });

  it("settled() waits for many incarnations with one callback each, and names a late one on timeout", async () => {
    const t = new KeyTable();
    const states = Array.from({ length: 1000 }, (_, i) => t.add(`k${i}`));
    settle(states[0], "finished");
    let done = false;
    const all = settled(states, 60_000).then(() => (done = true));
    assert.equal(states[0]!.waiters, undefined, "no waiter on a settled one");
    for (const ks of states.slice(1, -1)) settle(ks, "finished");
    await new Promise((r) => setImmediate(r));
    assert.equal(done, false, "one still pending");
    settle(states.at(-1), "error");
    await all;
    assert.ok(states.every((ks) => ks.waiters === undefined), "the waiters are gone once woken");
    const late = [t.add("x"), t.add("y")];
    const waiting = settled(late, 10);
    settle(late[0], "finished");
    await assert.rejects(waiting, (err: Error) => err.name === "TimeoutError" && /1 of 2 futures \("y", \.\.\.\) not done within 10 ms/.test(err.message));
    assert.equal(late[1]!.waiters, undefined, "a timed-out wait leaves no callback behind");
    await assert.rejects(settled([t.add("z")], 10), /future "z" not done within 10 ms/);
  });

  // protects gather's shortcut: only a finished incarnation has a holder; lost or cancelled news forgets it
  it("settle() keeps the holder the scheduler named while the key is finished, and forgets it otherwise", () => {
    const t = new KeyTable();
    const ks = t.add("h");
    settle(ks, "finished", undefined, undefined, "tcp://w1:1");
    assert.equal(ks.holder, "tcp://w1:1");
    settle(ks, "pending"); // key-lost: the holder died, the scheduler recomputes it
    assert.equal(ks.holder, undefined);
    settle(ks, "finished", undefined, undefined, "tcp://w2:1");
    settle(ks, "cancelled");
    assert.equal(ks.holder, undefined);
    settle(ks, "finished", undefined, undefined, "tcp://w3:1"); // news of a cancelled task is void
    assert.equal(ks.status, "cancelled");
    assert.equal(ks.holder, undefined);
  });

  it("failure() names what a future fails with", () => {
    const t = new KeyTable();
    const ks = t.add("f");
    assert.equal(failure("f", ks), undefined);
    settle(ks, "error", { name: "KilledWorkerError", message: "died 3 times", stack: "" });
    assert.equal(failure("f", ks)?.name, "KilledWorkerError");
    settle(ks, "error", { name: "RangeError", message: "bad", stack: "" }, "dep");
    assert.equal(failure("f", ks)?.name, "RemoteTaskError");
    settle(ks, "cancelled", undefined, "it was released");
    assert.match(failure("f", ks)!.message, /was cancelled: it was released/);
    const lost = new Error("scheduler lost");
    assert.equal(failure("f", ks, lost), lost);
  });
});
