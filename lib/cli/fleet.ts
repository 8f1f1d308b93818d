// The fleet commands: `ferry scan` walks a tree (or lists a bucket) into manifests on an SQS queue,
// `ferry work` does them on any number of machines, `ferry status` shows where a job stands.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SFNClient } from '@aws-sdk/client-sfn';
import { s3Client, sqsClient } from '../core/clients.ts';
import { BadInputError, CannotRunError, classify } from '../core/errors.ts';
import { followJob, enqueueManifest, queueSettings, work } from '../core/fleet.ts';
import { jobKeys, type PullJob, type PushJob } from '../core/job.ts';
import { DirectoryJobStore, type JobStore, S3JobStore } from '../core/jobstore.ts';
import { formatS3, parseLocation } from '../core/locations.ts';
import type { PlanState } from '../core/plan.ts';
import { checkDestination, checkSource } from '../core/preflight.ts';
import { poolFor } from '../core/pool.ts';
import { listIntoManifests } from '../core/pull.ts';
import { type Planned, walkIntoManifests } from '../core/push.ts';
import { finishPlanning, type ScanResult } from '../core/report.ts';
import { type JobStatus, JobTracker } from '../core/status.ts';
import { finish, JOB_OPTIONS, jobBase, maxBuffered, positiveInt, s3Location, sideConfig } from './common.ts';
import { describeExecution, type ExecutionStatus } from './engines.ts';
import { ProgressLine } from './progress.ts';
import { formatBytes } from '../core/size.ts';

const SCAN_OPTIONS = {
  ...JOB_OPTIONS,
  to: { type: 'string' },
  queue: { type: 'string' },
  'no-wait': { type: 'boolean' },
} as const;

/** Where fleet jobs live in the job bucket (as for cloud jobs). */
const JOB_PREFIX = 'jobs/';
/** A running scan saves its counts this often, for `ferry status` on other machines. */
const SAVE_PLAN_EVERY_MS = 5000;

/**
 * `ferry scan DIR --to s3://B/P --queue URL --job-bucket J`, or `ferry scan s3://B/P --to DIR ...`:
 * writes the job and its manifests to the job bucket, sends one message per manifest, then follows
 * the job until workers have done every manifest (unless --no-wait) and writes its report.
 */
export async function scanCommand(args: string[], usage: string): Promise<number> {
  const { values: o, positionals } = parseArgs({ args, options: SCAN_OPTIONS, allowPositionals: true, strict: true });
  if (o.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (positionals.length !== 1 || !o.to) throw new BadInputError('scan needs a source and --to: ferry scan DIR --to s3://B/P --queue URL');
  const queueUrl = o.queue;
  if (!queueUrl) throw new BadInputError('scan needs --queue URL: the SQS queue the workers read');
  const jobBucket = o['job-bucket'] ?? process.env.FERRY_JOB_BUCKET;
  if (!jobBucket) throw new BadInputError('scan needs --job-bucket NAME (or FERRY_JOB_BUCKET): where workers find the job');
  const from = parseLocation(positionals[0] as string);
  const base = jobBase(o);
  let job: PushJob | PullJob;
  let storeSide: ReturnType<typeof sideConfig>;
  if (from.kind === 'dir') {
    const root = path.resolve(from.path);
    if (!(await stat(root).catch(() => undefined))?.isDirectory()) throw new BadInputError(`source ${from.path}: not a directory`);
    const destination = s3Location(o.to, 'destination');
    storeSide = sideConfig(o, 'dest');
    await checkDestination(s3Client(storeSide), destination);
    job = { ...base, kind: 'push', source: { kind: 'dir', path: root }, destination, followSymlinks: Boolean(o['follow-symlinks']), queue: queueUrl };
  } else {
    const to = parseLocation(o.to);
    if (to.kind !== 'dir') throw new BadInputError(`--to ${o.to}: scan goes from a directory to s3:// or from s3:// to a directory`);
    storeSide = sideConfig(o, 'source');
    await checkSource(s3Client(storeSide), from);
    job = { ...base, kind: 'pull', source: from, destination: { kind: 'dir', path: path.resolve(to.path) }, queue: queueUrl };
  }
  const sqs = sqsClient(storeSide, queueUrl);
  const queue = await queueSettings(sqs, queueUrl).catch((err) => {
    throw queueError(err, queueUrl);
  });
  const store = new S3JobStore(s3Client(storeSide), jobBucket, JOB_PREFIX);
  await checkDestination(s3Client(storeSide), { kind: 's3', bucket: jobBucket, prefix: JOB_PREFIX }).catch((err: Error) => {
    throw new BadInputError(`--job-bucket ${jobBucket}: ${err.message.replace(/^destination \S+: /, '')}`);
  });
  // Endpoints and profiles are this machine's: workers use their own.
  await store.put(jobKeys.job(job.jobId), JSON.stringify(job, null, 2));

  const json = Boolean(o.json);
  const log = (line: string) => json || process.stderr.write(`ferry: ${line}\n`);
  const what = job.kind === 'push' ? `${job.source.path} -> ${formatS3(job.destination)}` : `${formatS3(job.source)} -> ${job.destination.path}`;
  log(`job ${job.jobId}: ${what}, manifests to ${queueUrl}`);
  if (!queue.deadLetterUrl) log('warning: the queue has no dead-letter queue; a manifest that keeps failing is retried until it expires');

  // With --no-wait the scan ends at 0 objects done: its log lines, not a progress line, say what it did.
  const progress = new ProgressLine({ quiet: json || Boolean(o['no-wait']) });
  const scan: ScanResult = { skipped: [], failed: [] };
  const planned: Planned = { manifests: 0, objects: 0, bytes: 0 };
  const manifests =
    job.kind === 'push'
      ? walkIntoManifests(job, store, scan, planned, progress)
      : listIntoManifests(job, s3Client(storeSide), store, scan, planned, progress);
  let saved = Date.now();
  try {
    for await (const { manifest, lines } of manifests) {
      if (!job.dryRun) {
        await enqueueManifest(sqs, queueUrl, { ferry: 1, jobBucket, jobPrefix: JOB_PREFIX, jobId: job.jobId, manifest, lines });
      }
      if (Date.now() - saved >= SAVE_PLAN_EVERY_MS) {
        const plan: PlanState = { done: false, startAfter: '', ...planned };
        await store.put(jobKeys.plan(job.jobId), JSON.stringify(plan));
        saved = Date.now();
      }
    }
    await finishPlanning(store, job.jobId, planned, scan);
    progress.planningDone = true;
  } catch (err) {
    progress.stop();
    throw err;
  }
  log(`${planned.manifests} manifests (${planned.objects.toLocaleString('en-US')} files, ${formatBytes(planned.bytes)}) queued`);
  const where = (key: string) => `s3://${jobBucket}/${store.locate(key)}`;
  if (o['no-wait'] && !job.dryRun) {
    progress.stop();
    log(`follow it with: ferry status ${job.jobId} --job-bucket ${jobBucket} --wait`);
    if (json) process.stdout.write(`${JSON.stringify({ jobId: job.jobId, status: 'queued', manifests: planned.manifests })}\n`);
    return 0;
  }
  const result = await followJob({ store, jobId: job.jobId, sqs, deadLetterUrl: queue.deadLetterUrl, onStatus: (status) => progress.show(status) }).finally(() =>
    progress.stop(),
  );
  return finish(result, where, json);
}

/** Mirrors a job's status, read from its job store, on the progress line. */
function queueError(err: unknown, queueUrl: string): Error {
  const { code, message } = classify(err);
  if (code === 'QueueDoesNotExist' || code === 'AWS.SimpleQueueService.NonExistentQueue' || /does not exist/i.test(message)) {
    return new BadInputError(`--queue ${queueUrl}: the queue does not exist`);
  }
  return new CannotRunError(`--queue ${queueUrl}: ${code}: ${message}`);
}

const WORK_OPTIONS = {
  queue: { type: 'string' },
  'endpoint-url': { type: 'string' },
  profile: { type: 'string' },
  region: { type: 'string' },
  concurrency: { type: 'string' },
  root: { type: 'string' },
  'idle-exit': { type: 'string' },
  'max-buffered': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * `ferry work --queue URL`: takes manifests off the queue until stopped (SIGTERM or Ctrl-C: nothing
 * new is started, what is in flight finishes, unfinished manifests go back to the queue at once) or,
 * with --idle-exit, until the queue has been empty that many seconds.
 */
export async function workCommand(args: string[], usage: string): Promise<number> {
  const { values: o } = parseArgs({ args, options: WORK_OPTIONS, strict: true });
  if (o.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (!o.queue) throw new BadInputError('work needs --queue URL');
  const side = { endpoint: o['endpoint-url'], profile: o.profile, region: o.region };
  const sqs = sqsClient(side, o.queue);
  await queueSettings(sqs, o.queue).catch((err) => {
    throw queueError(err, o.queue as string);
  });
  const concurrency = o.concurrency === undefined || o.concurrency === 'auto' ? 0 : positiveInt(o.concurrency, '--concurrency', 0);
  const idleExitMs = o['idle-exit'] === undefined ? undefined : positiveInt(o['idle-exit'], '--idle-exit', 0) * 1000;
  const log = (line: string) => process.stderr.write(`ferry work: ${line}\n`);
  const stopping = new AbortController();
  const stop = (signal: string) => () => {
    if (stopping.signal.aborted) process.exit(128 + (signal === 'SIGINT' ? 2 : 15)); // a second signal: now
    log(`${signal}: finishing what is in flight, giving the rest back to the queue`);
    stopping.abort();
  };
  process.on('SIGTERM', stop('SIGTERM'));
  process.on('SIGINT', stop('SIGINT'));
  log(`taking manifests from ${o.queue}`);
  const summary = await work({
    sqs,
    queueUrl: o.queue,
    s3: s3Client(side),
    pool: poolFor(concurrency, maxBuffered(o)),
    progress: new ProgressLine({ quiet: true }),
    root: o.root === undefined ? undefined : path.resolve(o.root),
    idleExitMs,
    signal: stopping.signal,
    log,
  });
  log(
    `stopped: ${summary.manifests} manifests done (${summary.objects.toLocaleString('en-US')} files, ${formatBytes(summary.bytes)}), ` +
      `${summary.failed} files failed, ${summary.released} manifests given back`,
  );
  return 0;
}

const STATUS_OPTIONS = {
  'job-dir': { type: 'string' },
  'job-bucket': { type: 'string' },
  'endpoint-url': { type: 'string' },
  profile: { type: 'string' },
  region: { type: 'string' },
  'state-machine-arn': { type: 'string' },
  wait: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * `ferry status JOB`: phase, counts, bytes, rate and ETA, from the job store (a local directory, or
 * the job bucket of a fleet or cloud job). With --wait on a fleet job: follow it to its report.
 */
export async function statusCommand(args: string[], usage: string): Promise<number> {
  const { values: o, positionals } = parseArgs({ args, options: STATUS_OPTIONS, allowPositionals: true, strict: true });
  if (o.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const jobId = positionals[0];
  if (positionals.length !== 1 || !jobId) throw new BadInputError('status needs a job id: ferry status JOB');
  const jobBucket = o['job-bucket'] ?? process.env.FERRY_JOB_BUCKET;
  const side = { endpoint: o['endpoint-url'], profile: o.profile, region: o.region };
  let store: JobStore;
  let where: (key: string) => string;
  if (jobBucket && !o['job-dir']) {
    const s3Store = new S3JobStore(s3Client(side), jobBucket, JOB_PREFIX);
    store = s3Store;
    where = (key) => `s3://${jobBucket}/${s3Store.locate(key)}`;
  } else {
    const dir = path.resolve(o['job-dir'] ?? path.join('.ferry', 'jobs'));
    store = new DirectoryJobStore(dir);
    where = (key) => path.join(dir, key);
  }
  if ((await store.get(jobKeys.job(jobId)).catch(() => undefined)) === undefined) {
    throw new BadInputError(`no job ${jobId} in ${where('')}`);
  }
  const status = await new JobTracker(store, jobId).refresh();
  // A cloud job: its execution (named after the job) and its Map Runs, beside the job store's counts.
  const stateMachineArn = o['state-machine-arn'] ?? (jobBucket && !o['job-dir'] ? process.env.FERRY_STATE_MACHINE_ARN : undefined);
  const execution = stateMachineArn
    ? await describeExecution(new SFNClient({ profile: o.profile, region: o.region }), stateMachineArn, jobId).catch((err) => {
        throw new CannotRunError(`execution of ${jobId} on ${stateMachineArn}: ${classify(err).message}`);
      })
    : undefined;
  if (o.wait && status.phase !== 'finished') {
    const job = status.job;
    if (job.kind === 'copy' || !job.queue) throw new BadInputError('--wait follows fleet jobs (ferry scan); a local job is followed by the process running it');
    const sqs = sqsClient(side, job.queue);
    const queue = await queueSettings(sqs, job.queue);
    const progress = new ProgressLine({ quiet: Boolean(o.json) });
    const result = await followJob({ store, jobId, sqs, deadLetterUrl: queue.deadLetterUrl, onStatus: (status) => progress.show(status) }).finally(() =>
      progress.stop(),
    );
    return finish(result, where, Boolean(o.json));
  }
  if (o.json) process.stdout.write(`${JSON.stringify({ ...statusJson(status), ...(execution && { execution }) })}\n`);
  else process.stdout.write(describe(status) + (execution ? describeExecutionStatus(execution) : ''));
  return 0;
}

function statusJson(s: JobStatus) {
  return {
    jobId: s.job.jobId,
    kind: s.job.kind,
    phase: s.phase,
    planningDone: s.planningDone,
    objects: { total: s.planned.objects, ...s.objects },
    bytes: { total: s.planned.bytes, copied: s.bytesCopied },
    manifests: { total: s.planned.manifests, done: s.manifestsDone },
    retries: s.retries,
    bytesPerSecond: Math.round(s.bytesPerSecond),
    ...(s.etaSeconds !== undefined && { etaSeconds: Math.round(s.etaSeconds) }),
  };
}

function describeExecutionStatus(e: ExecutionStatus): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const since = e.startDate ? ` since ${e.startDate}` : '';
  const lines = [`execution: ${e.status}${since}${e.stopDate ? `, ended ${e.stopDate}` : ''}${e.error ? ` (${e.error})` : ''}`];
  for (const [i, r] of e.mapRuns.entries()) {
    lines.push(`map run ${i + 1}: ${n(r.succeeded)} of ${n(r.total)} manifests done, ${n(r.running)} running, ${n(r.pending)} waiting, ${n(r.failed)} failed`);
  }
  return `${lines.join('\n')}\n`;
}

function describe(s: JobStatus): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const done = s.objects.copied + s.objects.skipped + s.objects.failed;
  const of = `${n(s.planned.objects)}${s.planningDone ? '' : '+'}`;
  const eta = s.etaSeconds !== undefined && s.phase !== 'finished' ? `, ETA ${Math.ceil(s.etaSeconds / 60)} min` : '';
  return [
    `job ${s.job.jobId} (${s.job.kind}): ${s.phase}`,
    `objects: ${n(done)} of ${of} (${n(s.objects.copied)} copied, ${n(s.objects.skipped)} skipped, ${n(s.objects.failed)} failed)`,
    `bytes: ${formatBytes(s.bytesCopied)} of ${formatBytes(s.planned.bytes)}${s.planningDone ? '' : '+'}`,
    `manifests: ${n(s.manifestsDone)} of ${n(s.planned.manifests)}${s.planningDone ? '' : '+'} done`,
    `rate: ${(s.bytesPerSecond / 1e6).toFixed(1)} MB/s since the start${eta}, ${n(s.retries)} retries`,
    '',
  ].join('\n');
}
