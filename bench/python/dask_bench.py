"""Python Dask side of the bench: the same cases as the dask-mpi-ts fixtures, on
distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True).

  throughput  client.map(lambda x: x + 1, range(n)) + client.gather, n = 10k and 50k, tasks/s
  latency     500 sequential client.submit(lambda x: x + 1, i).result() after 50 warm-up, p50/p99 us
  tree        sum of 1..10,000 by pairwise submit over futures, wall ms
  coordination  Lock acquire + release and Queue put + get round trips (asyncio client), median us
  transfer    256 MiB float64 array: client.scatter + checksum task (client -> worker), and a
              task on worker 0 making it, then a task pinned to worker 1 taking it (worker -> worker)

Usage: python3 dask_bench.py RUNS CASE[,CASE...]; prints one line "BENCH_JSON {...}".
"""
import json
import logging
import sys
import time

import numpy as np
from distributed import Client, LocalCluster, wait

MIB = 256
LENGTH = MIB * 1024 * 1024 // 8
STRIDE = 4096
EXPECTED = STRIDE * (LENGTH // STRIDE - 1) * (LENGTH // STRIDE) // 2


def make():
    return np.arange(32 * 1024 * 1024, dtype=np.float64)


def checksum(a):
    return {"length": int(a.shape[0]), "sum": float(a[::4096].sum())}


def check(what, r):
    if r["length"] != LENGTH or r["sum"] != EXPECTED:
        raise RuntimeError(f"{what}: got {r}, expected length {LENGTH} sum {EXPECTED}")


def throughput(client, runs):
    def once(n):
        t0 = time.perf_counter()
        futures = client.map(lambda x: x + 1, range(n), pure=False)
        values = client.gather(futures)
        seconds = time.perf_counter() - t0
        assert sum(values) == n * (n + 1) // 2
        del futures
        return n / seconds

    once(1000)
    return {str(n): [once(n) for _ in range(runs)] for n in (10_000, 50_000)}


def percentile(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, -(-p * len(s) // 100) - 1))]


def latency(client, runs):
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


def tree(client, runs):
    n = 10_000

    def once():
        t0 = time.perf_counter()
        layer = list(range(1, n + 1))
        tasks = 0
        while len(layer) > 1:
            nxt = [client.submit(lambda a, b: a + b, layer[i], layer[i + 1], pure=False) for i in range(0, len(layer) - 1, 2)]
            tasks += len(nxt)
            if len(layer) % 2:
                nxt.append(layer[-1])
            layer = nxt
        total = layer[0].result()
        ms = (time.perf_counter() - t0) * 1000
        assert total == n * (n + 1) // 2
        return ms, tasks

    # No warm-up round here (it costs ~25 s on Dask); the throughput case, run first, warms the cluster.
    results = [once() for _ in range(runs)]
    return {"ms": [ms for ms, _ in results], "tasks": results[0][1]}


def transfer(client, runs):
    workers = sorted(client.scheduler_info()["workers"].values(), key=lambda w: str(w["name"]))
    first, second = workers[0]["name"], workers[1]["name"]
    array = make()
    c2w, scatter_ms, w2w = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        f = client.scatter(array)
        t1 = time.perf_counter()
        check("client -> worker", client.submit(checksum, f, pure=False).result())
        ms = (time.perf_counter() - t0) * 1000
        c2w.append(MIB / (ms / 1000))
        scatter_ms.append((t1 - t0) * 1000)
        del f

        src = client.submit(make, workers=[first], pure=False)
        wait(src)
        t0 = time.perf_counter()
        check("worker -> worker", client.submit(checksum, src, workers=[second], pure=False).result())
        ms = (time.perf_counter() - t0) * 1000
        w2w.append(MIB / (ms / 1000))
        del src
    return {"c2w": c2w, "scatterMs": scatter_ms, "w2w": w2w}


def coordination(client, runs):
    """Lock acquire + release and Queue put + get round trips. The shape of our cluster (the
    scheduler in a process of its own, 2 one-thread workers, the client) rather than
    LocalCluster's (scheduler inside the client's process): dask-scheduler and dask-worker
    processes meeting through a scheduler file, and Dask's fastest client for calls to the
    scheduler, the asyncio one (no hop through the synchronous client's loop thread)."""
    import asyncio
    import os
    import shutil
    import statistics
    import subprocess
    import tempfile

    import dask
    from distributed import Lock, Queue

    directory = tempfile.mkdtemp(prefix="dask-bench-")
    file = os.path.join(directory, "scheduler.json")
    env = dict(os.environ, DASK_DISTRIBUTED__LOGGING__DISTRIBUTED="error")
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--scheduler-file", file, "--host", "127.0.0.1", "--no-dashboard"], **quiet)]
    for _ in range(2):
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", file, "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "1", "--no-dashboard"], **quiet))
    config = {
        "cluster": "dask-scheduler + 2 x dask-worker --nthreads 1 (separate processes, 127.0.0.1, scheduler file)",
        "client": "Client(scheduler_file=..., asynchronous=True) in its own asyncio loop",
        "primitives": "distributed.Lock, distributed.Queue (await Queue(...))",
        "distributed.comm.compression": dask.config.get("distributed.comm.compression", None),
        "distributed.scheduler.work-stealing": dask.config.get("distributed.scheduler.work-stealing", None),
    }

    async def main():
        for _ in range(600):
            if os.path.exists(file):
                break
            await asyncio.sleep(0.1)
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
            return {"lock": lock_us, "queue": queue_us, "config": config}

    try:
        return asyncio.run(main())
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(directory, ignore_errors=True)


CASES = {"throughput": throughput, "latency": latency, "tree": tree, "transfer": transfer, "coordination": coordination}


def main():
    runs = int(sys.argv[1])
    wanted = sys.argv[2].split(",")
    cases = [c for c in CASES if c in wanted]
    import distributed

    out = {"version": distributed.__version__}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        with Client(cluster) as client:
            client.wait_for_workers(2, timeout=60)
            for name in cases:
                t0 = time.perf_counter()
                out[name] = CASES[name](client, runs)
                print(f"dask {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    print("BENCH_JSON " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
