#!/usr/bin/env node
import { main } from "../dist/src/cli/dask-mpi.js";
await main();
