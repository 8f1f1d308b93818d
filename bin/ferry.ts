#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// File writes and reads go through libuv's threadpool (4 threads by default): a pull or push of
// many small files needs more. It must be sized before anything uses it, so the CLI loads after.
process.env.UV_THREADPOOL_SIZE ??= '16';
const { main } = await import('../lib/cli/main.ts');

process.exitCode = await main(process.argv.slice(2));
