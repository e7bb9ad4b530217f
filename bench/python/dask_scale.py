"""Python Dask side of the scale section (bench/scale.ts): the tasks curve on the same shape as
ours, a dask-scheduler process of its own (no dashboard), the client in this process.

For each size N (10k, 100k, ... up to MAX), on a fresh scheduler:
  ingest     client.map(inc, range(N), pure=False) with no worker, timed until the scheduler holds
             all N tasks; then N tasks each on one of those; the scheduler's CPU per task
  memory     the scheduler's RSS growth per task after gc.collect() (Python has no V8-like "heap
             after a forced GC"; RSS after a full collection is the nearest figure)
  end to end 2 dask-worker processes (1 thread each) join; map of N + gather, tasks/s and the
             scheduler's CPU per task

Dask at its best for many tiny tasks (printed with the results): pure=False (no tokenizing),
work stealing off, no scheduler-side queuing (worker-saturation inf), logging at error.

Usage: python3 dask_scale.py MAX; prints one line "BENCH_JSON {...}".
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from distributed import Client

CONFIG = {
    "distributed.scheduler.work-stealing": False,
    "distributed.scheduler.worker-saturation": float("inf"),
    "distributed.logging.distributed": "error",
}


def inc(x):
    return x + 1


def sample(dask_scheduler, collect):
    import gc

    import psutil

    if collect:
        gc.collect()
    p = psutil.Process()
    t = p.cpu_times()
    return {"rss": p.memory_info().rss, "cpu_us": (t.user + t.system) * 1e6, "tasks": len(dask_scheduler.tasks), "workers": len(dask_scheduler.workers)}


def settings(dask_scheduler):
    import dask

    return {
        "worker-saturation (scheduler)": str(dask_scheduler.WORKER_SATURATION),
        "work-stealing (scheduler)": "stealing" in dask_scheduler.extensions,
        "logging.distributed (scheduler)": dask.config.get("distributed.logging.distributed"),
    }


SEEN = {}


def point(n):
    directory = tempfile.mkdtemp(prefix="dask-scale-")
    file = os.path.join(directory, "scheduler.json")
    env = dict(os.environ, DASK_DISTRIBUTED__LOGGING__DISTRIBUTED="error", DASK_DISTRIBUTED__SCHEDULER__WORK_STEALING="False", DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION="inf")
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--scheduler-file", file, "--host", "127.0.0.1", "--no-dashboard"], **quiet)]
    try:
        for _ in range(600):
            if os.path.exists(file):
                break
            time.sleep(0.1)
        with Client(scheduler_file=file) as client:
            s = lambda collect=False: client.run_on_scheduler(sample, collect=collect)

            def until(tasks):
                while True:
                    x = s()
                    if x["tasks"] == tasks:
                        return x
                    time.sleep(0.02)

            def ingest(submit, tasks):
                s0 = s()
                t0 = time.perf_counter()
                out = submit()
                s1 = until(tasks)
                return out, {"rate": n / (time.perf_counter() - t0), "schedulerCpuUs": (s1["cpu_us"] - s0["cpu_us"]) / n}

            SEEN.update(client.run_on_scheduler(settings))
            base = s(True)
            roots, independent = ingest(lambda: client.map(inc, range(n), pure=False), n)
            queued = s(True)
            deps, dependent = ingest(lambda: client.map(inc, roots, pure=False), 2 * n)
            waiting = s(True)
            del deps, roots
            until(0)

            for _ in range(2):
                procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", file, "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "1", "--no-dashboard"], **quiet))
            client.wait_for_workers(2, timeout=120)
            client.gather(client.map(inc, range(1000), pure=False))
            until(0)
            before = s()
            t0 = time.perf_counter()
            futures = client.map(inc, range(n), pure=False)
            values = client.gather(futures)
            seconds = time.perf_counter() - t0
            after = s()
            assert sum(values) == n * (n + 1) // 2
            del futures, values
            return {
                "n": n,
                "rssPerQueuedTask": (queued["rss"] - base["rss"]) / n,
                "rssPerWaitingTask": (waiting["rss"] - queued["rss"]) / n,
                "schedulerRssMiB": waiting["rss"] / 2**20,
                "independent": independent,
                "dependent": dependent,
                "endToEnd": n / seconds,
                "schedulerCpuUsPerTask": (after["cpu_us"] - before["cpu_us"]) / n,
            }
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


def main():
    import distributed

    top = int(sys.argv[1])
    points = []
    n = 10_000
    while n <= top:
        t0 = time.perf_counter()
        points.append(point(n))
        print(f"dask scale {n}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        n *= 10
    config = {"cluster": "dask-scheduler (own process, --no-dashboard) + Client(scheduler_file) here; 2 x dask-worker --nthreads 1 for end to end", "map": "pure=False", **{k: str(v) for k, v in CONFIG.items()}, **SEEN}
    print("BENCH_JSON " + json.dumps({"version": distributed.__version__, "config": config, "points": points}), flush=True)


if __name__ == "__main__":
    main()
