"""Start-up of Python Dask under MPI, measured the way bench/startup.ts measures dask-mpi-ts:
`mpirun -np 4 python3 dask_mpi_start.py` is an initialize()-equivalent of dask-mpi (which Debian
does not package): mpi4py, the scheduler on rank 0, the client script on rank 1, a worker under
its nanny (one thread) on ranks 2-3, the scheduler's address broadcast from rank 0, all on the
loopback interface. Rank 1 submits x + 1 and prints "FIRST_RESULT <ms since the epoch>" when the
value is in hand (the same definition as fixtures/first-result.ts), then shuts the cluster down.

`dask_mpi_start.py baseline`: mpi4py's MPI_Init and a barrier only, rank 1 printing the time
(the Python counterpart of fixtures/mpi-init.ts).
"""
import asyncio
import sys
import time

# Everything runs under the __main__ guard: a nanny starts its worker with multiprocessing's
# spawn, which imports this file again in the child, and that child must not call MPI_Init.


async def run_scheduler(comm):
    from distributed import Scheduler

    async with Scheduler(interface="lo", protocol="tcp", dashboard=False) as scheduler:
        comm.bcast(scheduler.address, root=0)
        comm.Barrier()
        await scheduler.finished()


async def run_worker(address, rank):
    from distributed import Nanny

    async with Nanny(address, interface="lo", protocol="tcp", nthreads=1, name=rank) as nanny:
        await nanny.finished()


def main():
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    if len(sys.argv) > 1 and sys.argv[1] == "baseline":
        comm.Barrier()
        if rank == 1:
            print(f"FIRST_RESULT {int(time.time() * 1000)} 0", flush=True)
        return
    if rank == 0:
        asyncio.run(run_scheduler(comm))
        return
    address = comm.bcast(None, root=0)
    comm.Barrier()
    if rank == 1:
        from distributed import Client

        with Client(address) as client:
            value = client.submit(lambda x: x + 1, 1).result()
            print(f"FIRST_RESULT {int(time.time() * 1000)} {value}", flush=True)
            # Not timed: both workers in before the shutdown, so none is left waiting for a
            # scheduler that has gone (dask-mpi's own initialize() has that race).
            client.wait_for_workers(2, timeout=120)
            client.shutdown()
    else:
        asyncio.run(run_worker(address, rank))


if __name__ == "__main__":
    main()
