#!/usr/bin/env node
import { main } from "../dist/src/cli/dask-jobqueue.js";
await main();
