"""Python Dask side of the bench: the same cases as the dask-mpi-ts fixtures, on the same cluster
shape as `mpirun -np 4 dask-mpi-ts`: a scheduler in a process of its own (dask-scheduler), two
one-thread workers each under its nanny (dask-worker --nthreads 1), and the client in this
process, all on 127.0.0.1, meeting through a scheduler file.

Two configurations (PROFILE, the third argument):
  best     Dask at its best for these cases: distributed.scheduler.worker-saturation inf (no
           root-task queuing), Client(direct_to_workers=True), distributed.comm.compression None
           (the transfer data is np.arange, which lz4 would shrink; compression off moves every
           byte, as dask-mpi-ts does: it never compresses)
  default  Dask as shipped: none of the above set

  throughput  client.map(lambda x: x + 1, range(n)) + client.gather, n = 10k and 50k, tasks/s
  latency     500 sequential client.submit(lambda x: x + 1, i).result() after 50 warm-up, p50/p99 us,
              with the client as shipped (its scheduler stream sends at most every 10 ms: a
              submit right after the previous future's release waits for that window), and
              (best only) with that interval set to 0 on the live client (`unpaced`)
  tree        sum of 1..10,000 by pairwise additions, the whole tree as one graph (client.get of
              a task dict), wall ms from building the graph to the root's value
  coordination  Lock acquire + release and Queue put + get round trips (asyncio client), median us
  transfer    256 MiB float64 array: client.scatter + checksum task (client -> worker), and a
              task on worker 0 making it, then a task pinned to worker 1 taking it (worker -> worker)

Every case has a warm-up round that is not counted, then RUNS counted rounds.
Usage: python3 dask_bench.py RUNS CASE[,CASE...] [best|default]; prints one line "BENCH_JSON {...}".
"""
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

MIB = 256
LENGTH = MIB * 1024 * 1024 // 8
STRIDE = 4096
EXPECTED = STRIDE * (LENGTH // STRIDE - 1) * (LENGTH // STRIDE) // 2

BEST_ENV = {
    "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "inf",
    "DASK_DISTRIBUTED__COMM__COMPRESSION": "None",
}
CONFIG_KEYS = ["distributed.scheduler.worker-saturation", "distributed.comm.compression", "distributed.scheduler.work-stealing", "distributed.worker.memory.target", "distributed.admin.tick.interval"]


def make():
    return np.arange(32 * 1024 * 1024, dtype=np.float64)


def checksum(a):
    return {"length": int(a.shape[0]), "sum": float(a[::4096].sum())}


def check(what, r):
    if r["length"] != LENGTH or r["sum"] != EXPECTED:
        raise RuntimeError(f"{what}: got {r}, expected length {LENGTH} sum {EXPECTED}")


def add(a, b):
    return a + b


def effective_config():
    import dask

    return {k: str(dask.config.get(k, None)) for k in CONFIG_KEYS}


def settle(client):
    """Off the clock: wait until the scheduler holds no task, so that the previous run's released
    futures are forgotten before the next run starts (as bench/fixtures/common.ts settle)."""
    deadline = time.perf_counter() + 30
    while True:
        left = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
        if left == 0:
            return
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the scheduler still holds {left} tasks 30 s after the run's futures were released")
        time.sleep(0.005)


def throughput(client, runs):
    def once(n):
        t0 = time.perf_counter()
        futures = client.map(lambda x: x + 1, range(n), pure=False)
        values = client.gather(futures)
        seconds = time.perf_counter() - t0
        assert sum(values) == n * (n + 1) // 2
        del futures
        settle(client)
        return n / seconds

    once(1000)
    return {str(n): [once(n) for _ in range(runs)] for n in (10_000, 50_000)}


def percentile(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, -(-p * len(s) // 100) - 1))]


def latency_with(client, runs):
    def trip(i):
        t0 = time.perf_counter()
        v = client.submit(lambda x: x + 1, i, pure=False).result()
        assert v == i + 1
        return (time.perf_counter() - t0) * 1e6

    for i in range(50):
        trip(i)
    p50, p99 = [], []
    for _ in range(runs):
        times = [trip(i) for i in range(500)]
        p50.append(percentile(times, 50))
        p99.append(percentile(times, 99))
    return {"p50": p50, "p99": p99}


def latency(client, runs, profile):
    out = latency_with(client, runs)
    stream = client.scheduler_comm  # the BatchedSend the client's messages to the scheduler go through
    out["clientIntervalMs"] = stream.interval * 1000
    if profile == "best":
        shipped = stream.interval
        stream.interval = 0  # send every message at once: the client's own pacing removed
        try:
            out["unpaced"] = latency_with(client, runs)
        finally:
            stream.interval = shipped
    return out


tree_round = [0]


def tree(client, runs):
    n = 10_000

    def once():
        tree_round[0] += 1
        prefix = f"t{tree_round[0]}-"
        t0 = time.perf_counter()
        graph = {}
        layer = list(range(1, n + 1))  # ints, then keys of the layer below
        depth = 0
        while len(layer) > 1:
            depth += 1
            nxt = []
            for i in range(0, len(layer) - 1, 2):
                key = f"{prefix}{depth}-{i // 2}"
                graph[key] = (add, layer[i], layer[i + 1])
                nxt.append(key)
            if len(layer) % 2:
                nxt.append(layer[-1])
            layer = nxt
        total = client.get(graph, layer[0])
        ms = (time.perf_counter() - t0) * 1000
        assert total == n * (n + 1) // 2, total
        settle(client)
        return ms, len(graph)

    once()  # warm-up
    results = [once() for _ in range(runs)]
    return {"ms": [ms for ms, _ in results], "tasks": results[0][1]}


def transfer(client, runs):
    from distributed import wait

    workers = sorted(client.scheduler_info()["workers"].items(), key=lambda kv: str(kv[1]["name"]))
    first, second = workers[0][0], workers[1][0]  # addresses
    array = make()
    c2w, scatter_ms, w2w = [], [], []
    for r in range(runs + 1):  # round 0 warms up
        t0 = time.perf_counter()
        f = client.scatter(array, workers=[first])
        t1 = time.perf_counter()
        check("client -> worker", client.submit(checksum, f, workers=[first], pure=False).result())
        ms = (time.perf_counter() - t0) * 1000
        if r:
            c2w.append(MIB / (ms / 1000))
            scatter_ms.append((t1 - t0) * 1000)
        del f

        src = client.submit(make, workers=[first], pure=False)
        wait(src)
        t0 = time.perf_counter()
        check("worker -> worker", client.submit(checksum, src, workers=[second], allow_other_workers=False, pure=False).result())
        ms = (time.perf_counter() - t0) * 1000
        if r:
            w2w.append(MIB / (ms / 1000))
        del src
    # The machine's copy into fresh memory as numpy does it (np.empty then a copy): numpy asks
    # for transparent huge pages on big arrays (madvise), so it takes far fewer page faults
    # than Node's fresh buffers; the Node side prints its own figure next to it.
    fresh = []
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        target = np.empty_like(array)
        target[:] = array
        fresh.append(MIB / (time.perf_counter() - t0))
        del target
    return {"c2w": c2w, "scatterMs": scatter_ms, "w2w": w2w, "freshCopyMibs": fresh[1:]}


def coordination(file, runs):
    """Lock acquire + release and Queue put + get round trips with Dask's fastest client for calls
    to the scheduler, the asyncio one (no hop through the synchronous client's loop thread)."""
    from distributed import Client, Lock, Queue

    async def main():
        async with Client(scheduler_file=file, asynchronous=True) as ac:
            await ac.wait_for_workers(2, timeout=60)
            lock = Lock("bench-lock", client=ac)
            queue = await Queue("bench-queue", client=ac)

            async def lock_trip():
                t0 = time.perf_counter()
                assert await lock.acquire()
                await lock.release()
                return (time.perf_counter() - t0) * 1e6

            async def queue_trip(i):
                t0 = time.perf_counter()
                await queue.put(i)
                assert await queue.get(timeout=10) == i
                return (time.perf_counter() - t0) * 1e6

            for i in range(100):
                await lock_trip()
                await queue_trip(i)
            lock_us, queue_us = [], []
            for _ in range(runs):
                lock_us.append(statistics.median([await lock_trip() for _ in range(1000)]))
                queue_us.append(statistics.median([await queue_trip(i) for i in range(1000)]))
            return {"lock": lock_us, "queue": queue_us}

    return asyncio.run(main())


class Cluster:
    """dask-scheduler + 2 x dask-worker --nthreads 1 (each with its nanny), through a scheduler file."""

    def __init__(self, env):
        self.directory = tempfile.mkdtemp(prefix="dask-bench-")
        self.file = os.path.join(self.directory, "scheduler.json")
        full = dict(os.environ, DASK_DISTRIBUTED__LOGGING__DISTRIBUTED="error", **env)
        quiet = {"env": full, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": self.directory}
        self.procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--scheduler-file", self.file, "--host", "127.0.0.1", "--no-dashboard"], **quiet)]
        for i in range(2):
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", self.file, "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "1", "--name", f"w{i}", "--no-dashboard", "--local-directory", self.directory],
                    **quiet,
                )
            )
        deadline = time.monotonic() + 120
        while not os.path.exists(self.file):
            if time.monotonic() > deadline:
                raise RuntimeError("dask-scheduler wrote no scheduler file within 120 s")
            time.sleep(0.05)

    def close(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def main():
    runs = int(sys.argv[1])
    wanted = sys.argv[2].split(",")
    profile = sys.argv[3] if len(sys.argv) > 3 else "best"
    if profile not in ("best", "default"):
        raise SystemExit(f"profile must be best or default, not {profile!r}")
    env = BEST_ENV if profile == "best" else {}
    os.environ.update(env)  # this process (the client) reads the same configuration
    import dask
    import distributed
    from distributed import Client

    dask.config.refresh()
    out = {"version": distributed.__version__, "profile": profile}
    cluster = Cluster(env)
    try:
        with Client(scheduler_file=cluster.file, direct_to_workers=(profile == "best")) as client:
            client.wait_for_workers(2, timeout=120)
            workers = client.run(effective_config)
            out["config"] = {
                "cluster": "dask-scheduler + 2 x dask-worker --nthreads 1 --nworkers 1 (nanny), 127.0.0.1, scheduler file",
                "client": f"Client(scheduler_file=..., direct_to_workers={profile == 'best'})",
                "client config": effective_config(),
                "scheduler config": client.run_on_scheduler(effective_config),
                "worker config": next(iter(workers.values())),
                "client batching interval (ms)": client.scheduler_comm.interval * 1000,
            }
            for name in [c for c in ("throughput", "latency", "tree", "transfer") if c in wanted]:
                t0 = time.perf_counter()
                out[name] = latency(client, runs, profile) if name == "latency" else globals()[name](client, runs)
                print(f"dask {profile} {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        if "coordination" in wanted:
            out["coordination"] = coordination(cluster.file, runs)
    finally:
        cluster.close()
    print("BENCH_JSON " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
