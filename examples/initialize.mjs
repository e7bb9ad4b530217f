// The program owns main: `mpirun -np 4 node examples/initialize.mjs`.
// initialize() turns rank 0 into the scheduler and ranks 2.. into workers; rank 1 continues.
import { initialize } from "dask-mpi-ts";

const client = await initialize({ nthreads: 1 });
const total = await client.gather(client.map((x) => x * x, [1, 2, 3]));
console.log("squares:", total);
// when this program ends, the whole job shuts down and mpirun exits with its status
