// A download worker thread (see pull-workers.ts): the main thread's lean path rebuilt here, with no
// SDK to load; whole downloads asked and their outcomes posted back in batches.
import { parentPort, workerData } from 'node:worker_threads';
import { type Credentials, LeanS3, type SharedPath } from './lean-s3.ts';
import { downloadWhole } from './download.ts';
import { type Asked, type FromWorker, type Outcome, revived, sendable, type ToWorker } from './pull-workers.ts';

const { path } = workerData as { path: SharedPath };

// Fresh credentials come from the main thread, whose SDK refreshes them (LeanS3 asks once at a time).
let credentialsAsked: { resolve: (c: Credentials) => void; reject: (err: Error) => void } | undefined;
function freshCredentials(): Promise<Credentials> {
  return new Promise((resolve, reject) => {
    credentialsAsked = { resolve, reject };
    post('credentials');
  });
}
const lean = LeanS3.shared(path, freshCredentials);

function post(message: FromWorker): void {
  parentPort?.postMessage(message);
}

// Outcomes go back in batches, one message per turn of the event loop: each message wakes the
// main thread, and a wake per file cost as much as writing the file.
let outcomes: Outcome[] = [];
function reply(outcome: Outcome): void {
  if (outcomes.push(outcome) === 1) {
    setImmediate(() => {
      post(outcomes);
      outcomes = [];
    });
  }
}

async function download({ id, request }: Asked): Promise<void> {
  try {
    await downloadWhole(lean, request);
    reply({ id });
  } catch (err) {
    reply({ id, error: sendable(err) });
  }
}

parentPort?.on('message', (message: ToWorker) => {
  if (Array.isArray(message)) {
    for (const a of message) void download(a);
  } else if ('credentials' in message) {
    credentialsAsked?.resolve(message.credentials);
  } else {
    credentialsAsked?.reject(revived(message.credentialsError));
  }
});
post('ready');
