import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { S3Client } from '@aws-sdk/client-s3';
import { emptyResult, type ManifestResult } from './copy.ts';
import { BadInputError } from './errors.ts';
import { type Job, jobKeys, loadAnyJob, manifestName } from './job.ts';
import { getJson, getText, type JobStore, S3JobStore } from './jobstore.ts';
import { parseManifest } from './manifest.ts';
import type { PlanState } from './plan.ts';
import type { Pool } from './pool.ts';
import type { ProgressSink } from './progress.ts';
import { type MadeDirs, type PullLine, pullManifest } from './pull.ts';
import { MANIFESTS_IN_FLIGHT, type PushLine, uploadManifest } from './push.ts';
import { type Report, report } from './report.ts';
import { type JobStatus, JobTracker } from './status.ts';

/**
 * One SQS message of a fleet job: where the job lives (a prefix of an S3 job bucket every worker can
 * read) and which manifest to do. The manifest's lines travel inline when they fit a message; the
 * manifest in the job store is the record either way.
 */
export interface FleetMessage {
  readonly ferry: 1;
  readonly jobBucket: string;
  readonly jobPrefix: string;
  readonly jobId: string;
  readonly manifest: string;
  readonly lines?: readonly (PushLine | PullLine)[];
}

/** A worker's long poll: short enough that SIGTERM is not kept waiting long for it to return. */
const POLL_SECONDS = 10;

/** SQS takes bodies up to 256 KiB; the rest of the body needs a little room. */
const MAX_INLINE_BYTES = 250 * 1024;

export async function enqueueManifest(sqs: SQSClient, queueUrl: string, message: FleetMessage): Promise<void> {
  let body = JSON.stringify(message);
  if (Buffer.byteLength(body) > MAX_INLINE_BYTES) body = JSON.stringify({ ...message, lines: undefined });
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
}

/** The queue's visibility timeout, and its dead-letter queue's URL when it has one. */
export async function queueSettings(sqs: SQSClient, queueUrl: string): Promise<{ visibilitySeconds: number; deadLetterUrl?: string }> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['VisibilityTimeout', 'RedrivePolicy'] }),
  );
  const visibilitySeconds = Number(out.Attributes?.VisibilityTimeout ?? 30);
  const redrive = out.Attributes?.RedrivePolicy;
  if (!redrive) return { visibilitySeconds };
  const arn = (JSON.parse(redrive) as { deadLetterTargetArn: string }).deadLetterTargetArn;
  const [, , , , account, name] = arn.split(':');
  const url = await sqs.send(new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: account }));
  return { visibilitySeconds, deadLetterUrl: url.QueueUrl };
}

export interface WorkOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  /** This machine's S3 client (its own endpoint and credentials), for the job store and the data. */
  readonly s3: S3Client;
  readonly pool: Pool;
  readonly progress: ProgressSink;
  /** The job's directory as mounted on this machine, when not at the path the scan used. */
  readonly root?: string;
  /** Stop after this long with no message and nothing in hand. */
  readonly idleExitMs?: number;
  /** Aborted on SIGTERM: take nothing more, let what is in flight finish, give the rest back. */
  readonly signal: AbortSignal;
  readonly log: (line: string) => void;
}

export interface WorkSummary {
  manifests: number;
  released: number;
  objects: number;
  failed: number;
  bytes: number;
}

/**
 * A fleet worker: long-polls the queue and does up to MANIFESTS_IN_FLIGHT manifests at once through
 * one pool. While a manifest is worked on its message's visibility is extended; the message is
 * deleted only once the manifest's result (every file done, skipped or failed) is in the job store.
 * A worker that dies loses nothing: the message comes back after the visibility timeout, and a
 * message that keeps coming back goes to the dead-letter queue, where the job's follower reports it.
 */
export async function work(options: WorkOptions): Promise<WorkSummary> {
  const { sqs, queueUrl, signal } = options;
  const { visibilitySeconds } = await queueSettings(sqs, queueUrl);
  const summary: WorkSummary = { manifests: 0, released: 0, objects: 0, failed: 0, bytes: 0 };
  const jobs = new Map<string, Promise<{ job: Job; store: JobStore }>>();
  const made: MadeDirs = new Map();
  const active = new Set<Promise<void>>();
  let lastBusy = Date.now();

  const release = (message: Message) =>
    sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 }));

  const handle = async (message: Message) => {
    const heartbeat = setInterval(
      () => {
        sqs
          .send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: visibilitySeconds }))
          .catch(() => {}); // the message may be gone or redelivered: the work is idempotent either way
      },
      Math.max(1000, (visibilitySeconds * 1000) / 3),
    );
    try {
      const body = parseMessage(message.Body ?? '');
      const key = `${body.jobBucket}/${body.jobPrefix}${body.jobId}`;
      if (!jobs.has(key)) {
        const store = new S3JobStore(options.s3, body.jobBucket, body.jobPrefix);
        jobs.set(key, loadAnyJob(store, body.jobId).then((job) => ({ job, store })));
      }
      const { job, store } = await (jobs.get(key) as Promise<{ job: Job; store: JobStore }>).catch((err) => {
        jobs.delete(key);
        throw err;
      });
      const resultKey = jobKeys.result(job.jobId, body.manifest);
      let done = (await store.get(resultKey)) !== undefined; // redelivered after it was finished
      const started = Date.now();
      if (!done) {
        const lines = body.lines ?? parseManifest(await getText(store, body.manifest));
        const deps = { store, s3: () => options.s3, pool: options.pool, progress: options.progress };
        const stop = () => signal.aborted;
        if (job.kind === 'push') {
          done = await uploadManifest(job, body.manifest, lines as PushLine[], deps, stop, options.root ?? job.source.path);
        } else if (job.kind === 'pull') {
          done = await pullManifest(job, body.manifest, lines as PullLine[], deps, made, stop, options.root ?? job.destination.path);
        } else {
          throw new BadInputError(`job ${job.jobId} is a ${job.kind} job: workers do push and pull jobs`);
        }
        if (done) {
          const r = JSON.parse((await store.get(resultKey)) as string) as ManifestResult;
          summary.objects += r.copied + (r.skipped ?? 0);
          summary.failed += r.failed;
          summary.bytes += r.bytesCopied;
          options.log(
            `${job.jobId} ${manifestName(body.manifest)}: ${r.copied} copied, ${r.skipped ?? 0} unchanged, ${r.failed} failed in ${((Date.now() - started) / 1000).toFixed(1)} s`,
          );
        }
      }
      clearInterval(heartbeat);
      if (done) {
        summary.manifests++;
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
      } else {
        // Stopping: hand the manifest back at once rather than after the visibility timeout.
        summary.released++;
        await release(message);
        options.log(`${body.jobId} ${manifestName(body.manifest)}: given back to the queue`);
      }
    } catch (err) {
      // Left to come back after the visibility timeout; after too many receives it is dead-lettered.
      options.log(`message ${message.MessageId}: ${(err as Error).message}`);
    } finally {
      clearInterval(heartbeat);
    }
  };

  while (!signal.aborted) {
    while (active.size >= MANIFESTS_IN_FLIGHT) await Promise.race(active);
    const wait = options.idleExitMs === undefined ? POLL_SECONDS : Math.min(POLL_SECONDS, Math.ceil(options.idleExitMs / 1000));
    let messages: Message[] = [];
    try {
      // Never cut off: a poll aborted on its way back would hide the messages it brought until
      // their visibility timeout.
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: MANIFESTS_IN_FLIGHT - active.size,
          WaitTimeSeconds: wait,
          VisibilityTimeout: visibilitySeconds,
        }),
      );
      messages = out.Messages ?? [];
    } catch (err) {
      options.log(`receive: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (signal.aborted) {
      // Stopped while polling: what the poll brought goes straight back.
      await Promise.all(messages.map(release));
      summary.released += messages.length;
      break;
    }
    if (messages.length > 0 || active.size > 0) lastBusy = Date.now();
    else if (options.idleExitMs !== undefined && Date.now() - lastBusy >= options.idleExitMs) break;
    for (const message of messages) {
      const task: Promise<void> = handle(message).finally(() => active.delete(task));
      active.add(task);
    }
  }
  await Promise.all(active);
  return summary;
}

function parseMessage(text: string): FleetMessage {
  let body: FleetMessage;
  try {
    body = JSON.parse(text) as FleetMessage;
  } catch {
    throw new BadInputError('not a ferry message (not JSON)');
  }
  if (body?.ferry !== 1 || typeof body.jobId !== 'string' || typeof body.manifest !== 'string' || typeof body.jobBucket !== 'string') {
    throw new BadInputError('not a ferry message');
  }
  return body;
}

/**
 * Takes a job's messages off the dead-letter queue: each manifest that workers could not finish
 * (they died or timed out on it too many times) gets a result with every file failed (code
 * DeadLettered), so the report lists them; the manifest stays in the job store for a rerun. Other
 * jobs' messages are left where they are. Returns how many manifests were dead-lettered.
 */
export async function collectDeadLetters(sqs: SQSClient, deadLetterUrl: string, store: JobStore, jobId: string): Promise<number> {
  let count = 0;
  for (;;) {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: deadLetterUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) return count;
    let ours = 0;
    for (const message of messages) {
      let body: FleetMessage | undefined;
      try {
        body = parseMessage(message.Body ?? '');
      } catch {
        body = undefined;
      }
      if (body?.jobId !== jobId) {
        await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: deadLetterUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 30 }));
        continue;
      }
      ours++;
      const resultKey = jobKeys.result(jobId, body.manifest);
      if ((await store.get(resultKey)) === undefined) {
        const lines = parseManifest(await getText(store, body.manifest));
        const result: ManifestResult = { ...emptyResult(body.manifest, lines.length), doneThrough: lines.length, failed: lines.length };
        result.failures = lines.map((l) => ({
          key: l.k,
          size: l.s,
          code: 'DeadLettered',
          message: 'workers took this manifest from the queue too many times without finishing it (crashed or timed out)',
        }));
        await store.put(resultKey, JSON.stringify(result));
        count++;
      }
      await sqs.send(new DeleteMessageCommand({ QueueUrl: deadLetterUrl, ReceiptHandle: message.ReceiptHandle }));
    }
    if (ours === 0) return count; // only other jobs' messages are left
  }
}

/**
 * Follows a fleet job from its job store until every manifest has a result (done by a worker, or
 * dead-lettered), then writes its report. Dead-lettered manifests are collected on the way.
 */
export async function followJob(options: {
  store: JobStore;
  jobId: string;
  sqs: SQSClient;
  deadLetterUrl?: string;
  everyMs?: number;
  onStatus: (status: JobStatus) => void;
}): Promise<Report> {
  const tracker = new JobTracker(options.store, options.jobId);
  for (;;) {
    if (options.deadLetterUrl) await collectDeadLetters(options.sqs, options.deadLetterUrl, options.store, options.jobId);
    const status = await tracker.refresh();
    options.onStatus(status);
    if (status.planningDone && status.manifestsDone >= status.planned.manifests) {
      const plan = await getJson<PlanState>(options.store, jobKeys.plan(options.jobId));
      return report({ jobId: options.jobId, plan, dryRun: status.job.dryRun }, { store: options.store });
    }
    await new Promise((r) => setTimeout(r, options.everyMs ?? 2000));
  }
}
