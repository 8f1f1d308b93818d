#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
import { main } from '../lib/cli/main.ts';

process.exitCode = await main(process.argv.slice(2));
