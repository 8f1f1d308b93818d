// A download worker thread (see pull-workers.ts): its own client and lean path for the source,
// whole downloads asked and their outcomes posted back in batches.
import { parentPort, workerData } from 'node:worker_threads';
import { type EndpointConfig, s3Client } from './clients.ts';
import { LeanS3 } from './lean-s3.ts';
import { downloadWhole } from './download.ts';
import { type Asked, type Outcome, sendable } from './pull-workers.ts';

const { source } = workerData as { source: EndpointConfig };
const lean = await LeanS3.for(s3Client(source));

// Outcomes go back in batches, one message per turn of the event loop: each message wakes the
// main thread, and a wake per file cost as much as writing the file.
let outcomes: Outcome[] = [];
function reply(outcome: Outcome): void {
  if (outcomes.push(outcome) === 1) {
    setImmediate(() => {
      parentPort?.postMessage(outcomes);
      outcomes = [];
    });
  }
}

async function download({ id, request }: Asked): Promise<void> {
  try {
    if (!lean) throw new Error('no lean path for this endpoint');
    await downloadWhole(lean, request);
    reply({ id });
  } catch (err) {
    reply({ id, error: sendable(err) });
  }
}

parentPort?.on('message', (asked: Asked[]) => {
  for (const a of asked) void download(a);
});
parentPort?.postMessage('ready');
