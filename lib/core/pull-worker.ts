// A download worker thread (see pull-workers.ts): its own client and lean path for the source,
// one whole download per message, the outcome posted back.
import { parentPort, workerData } from 'node:worker_threads';
import { type EndpointConfig, s3Client } from './clients.ts';
import { LeanS3 } from './lean-s3.ts';
import { downloadWhole } from './pull.ts';
import { sendable, type WholeDownload } from './pull-workers.ts';

const { source } = workerData as { source: EndpointConfig };
const lean = await LeanS3.for(s3Client(source));

parentPort?.on('message', async ({ id, request }: { id: number; request: WholeDownload }) => {
  try {
    if (!lean) throw new Error('no lean path for this endpoint');
    await downloadWhole(lean, request);
    parentPort?.postMessage({ id });
  } catch (err) {
    parentPort?.postMessage({ id, error: sendable(err) });
  }
});
