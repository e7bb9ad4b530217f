// Run as the client of an MPI job:
//   mpirun -np 4 dask-mpi-ts examples/sum-of-squares.mjs 1000
// rank 0 is the scheduler, rank 1 runs this file, ranks 2 and 3 are workers.
import { getClient } from "dask-mpi-ts";

const n = Number(process.argv[2] ?? 1000);
const client = getClient();
await client.waitForWorkers(1, { timeout: 30_000 });
const squares = await client.gather(client.map((x) => x * x, Array.from({ length: n }, (_, i) => i)));
const total = squares.reduce((a, b) => a + b, 0);
const workers = Object.values((await client.schedulerInfo()).workers).map((w) => w.name);
console.log(`sum of squares below ${n} = ${total}, computed on workers ${workers.sort().join(", ")}`);
