#!/usr/bin/env node
import { main } from "../dist/src/cli/dask-scheduler.js";
await main();
