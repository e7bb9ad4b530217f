#!/usr/bin/env node
import { main } from "../dist/src/cli/dask-worker.js";
await main();
