import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { s3Client, sameService } from '../core/clients.ts';
import { BadInputError, CannotRunError } from '../core/errors.ts';
import { type CopyJob, DEFAULT_RESTORE, jobKeys, loadAnyJob, loadJob, newJobId, readableCopies, type PullJob, type PushJob, type RestoreOptions, type SyncOptions } from '../core/job.ts';
import { DirectoryJobStore, getJson, getText, type JobStore, S3JobStore } from '../core/jobstore.ts';
import { parseManifest } from '../core/manifest.ts';
import { csvField } from '../core/report.ts';
import { verify, type VerifySide } from '../core/verify.ts';
import { formatS3, overlaps, parseLocation, type S3Location } from '../core/locations.ts';
import type { PlanState } from '../core/plan.ts';
import { readInventoryManifest, resolveInventory } from '../core/inventory.ts';
import { bucketRegion, checkDestination, checkSource } from '../core/preflight.ts';
import { poolFor } from '../core/pool.ts';
import { pull } from '../core/pull.ts';
import { PRICES_READ, thawEstimate } from '../core/thaw.ts';
import { assertVersioned } from '../core/versions.ts';
import { type InProcessDeps, push } from '../core/push.ts';
import { dropUndefined, finish, JOB_OPTIONS, jobBase, maxBuffered, positiveInt, s3Location, sideConfig } from './common.ts';
import type { Report } from './engines.ts';
import { type EstimateContext, estimateLines, planEstimate } from './estimate.ts';
import { ProgressLine } from './progress.ts';
import { formatBytes } from '../core/size.ts';

export const USAGE = `usage: ferry <command> [options]

commands:
  copy SRC DST     copy every object under s3://bucket[/prefix] to another s3://bucket[/prefix],
                   push a directory tree to s3://bucket[/prefix], or pull s3://bucket[/prefix] into a directory
  sync SRC DST     s3:// to s3://, a directory to s3:// or s3:// to a directory: copy only what is missing or differs;
                   --delete also deletes what the source does not have
  verify SRC DST   compare two sides (s3:// or a directory): keys, sizes, checksums where comparable; exit 1 if they differ
  plan SRC DST     what a sync would do, counted (to copy, unchanged, only at the destination); changes nothing;
                   with --estimate, its requests, Lambda, Step Functions, SQS, transfer, dollars and duration,
                   beside DataSync's and S3 Batch Operations' prices; with --at or --restore, what a restore
                   would do (objects, thaws with their wait and cost)
  restore SRC DST  s3://bucket[/prefix] as it was --at an instant (or as it is now) into s3://bucket[/prefix] or
                   a directory; archived objects are thawed first, the rest copied meanwhile
  scan SRC --to DST --queue URL --job-bucket NAME
                   fleet mode: walk a directory (to s3://bucket[/prefix]) or list s3:// (to a directory)
                   into manifests sent to an SQS queue, then follow the workers to the job's report
  work --queue URL take manifests off the queue and do them (on any number of machines)
  status JOB       where a job stands: phase, objects, bytes, rate, ETA (--job-dir, or --job-bucket)
  serve            run the embedded S3 + SQS endpoint on loopback, for trying ferry without AWS

options of copy:
  --endpoint-url URL            S3 endpoint for both sides (default: AWS, or AWS_ENDPOINT_URL[_S3])
  --source-endpoint-url URL     S3 endpoint of the source
  --dest-endpoint-url URL       S3 endpoint of the destination
  --profile NAME                AWS profile for both sides (default: AWS_PROFILE)
  --source-profile NAME         AWS profile of the source
  --dest-profile NAME           AWS profile of the destination
  --source-role-arn ARN         a role to assume for the source (another account's; kept in the job, so the
                                cloud's Lambdas assume it too), with --source-external-id ID if its trust asks
  --dest-role-arn ARN           the same for the destination, with --dest-external-id ID
  --region REGION               AWS region (default: AWS_REGION, then the profile's)
  --include GLOB                copy only keys matching GLOB (relative to the source prefix; repeatable)
  --exclude GLOB                skip keys matching GLOB (repeatable)
  --dry-run                     plan the copy and report what it would copy; change nothing
  --concurrency N|auto          concurrent requests (default: auto, adapting to the service)
  --engine local|aws            run in this process (default) or on the deployed state machine
  --json                        print one JSON report on stdout
  --multipart-threshold SIZE    move objects larger than this in parts (default 64MiB server-side, 8MiB streamed or uploaded)
  --part-size SIZE              part size (default: 64MiB server-side, 8MiB streamed, more for huge objects)
  --storage-class CLASS         storage class of the copies (default: the bucket's default)
  --sse AES256|aws:kms          server-side encryption of the copies
  --sse-kms-key-id ID           KMS key for --sse aws:kms
  --follow-symlinks             push: follow symbolic links (default: skip and count them)
  --max-buffered SIZE           push, pull, work: file and object bodies held in memory at once (default 256MiB)
  --job-dir DIR                 local job store (default .ferry/jobs)
  --from-inventory URL          between buckets: list the source from an S3 Inventory report (s3://.../manifest.json,
                                CSV; or its configuration's folder s3://.../config-id/ for the newest report)
                                instead of listing it; objects written since the report are not in it
  --resume JOB                  carry on an interrupted local job (no SRC DST: they are the job's)
  --state-machine-arn ARN       the deployed copy state machine, for --engine aws (or FERRY_STATE_MACHINE_ARN)
  --job-bucket NAME             the deployed job bucket, for --engine aws (or FERRY_JOB_BUCKET)

options of sync and plan (besides those of copy):
  --delete                      delete destination objects the source does not have (after every copy succeeded)
  --max-delete PERCENT          delete nothing if that would be more than this share of the destination (default 50)
  --force                       delete even beyond --max-delete
  --size-only                   same size means unchanged
  --checksum                    compare ETags where both are comparable, else as the default (size, then times)
  --estimate                    plan: price the job (us-east-1 list prices; --engine aws for the cloud's figures)

options of restore (besides those of copy):
  --at TIME                     an ISO 8601 instant with its zone (2026-11-01T00:00:00Z): each key's newest version
                                then; keys deleted then or written later are left out (listed in objects.csv)
  --thaw-tier Bulk|Standard|Expedited   how archived objects are thawed (default Bulk)
  --thaw-days N                 how long thawed copies stay readable (default 7)
  --thaw-check-seconds N        between checks on thaws under way (default 60 Expedited, 900 Standard, 3600 Bulk)

options of verify:
  --endpoint-url, --source-*, --dest-*, --profile, --region, --include, --exclude, --json, --job-dir   as for copy
  --deep                        read and hash both sides of objects whose ETags cannot be compared

options of scan (besides those of copy that apply):
  --to DST                      the destination: s3://bucket[/prefix] for a directory, a directory for s3://
  --queue URL                   the SQS queue the workers read
  --job-bucket NAME             the bucket holding the job (manifests, results, report), which workers read
                                and write (or FERRY_JOB_BUCKET); reached like the S3 side of the job
  --no-wait                     return once every manifest is queued (follow with ferry status JOB --wait)

options of work:
  --queue URL                   the SQS queue to take manifests from
  --endpoint-url, --profile, --region, --concurrency   as for copy (this machine's own)
  --root DIR                    where the job's directory is mounted on this machine (default: the scan's path)
  --idle-exit SECONDS           stop once the queue has been empty this long (default: run until SIGTERM)

options of status:
  --job-dir DIR | --job-bucket NAME   where the job is (default .ferry/jobs)
  --endpoint-url, --profile, --region  how to reach the job bucket
  --state-machine-arn ARN       a cloud job: also its execution and Map Runs (or FERRY_STATE_MACHINE_ARN)
  --wait                        follow a fleet job until every manifest is done, then write its report
  --json                        print the status as JSON

options of serve:
  --port N                      S3 + SQS on 127.0.0.1:N (default 4566), Step Functions on N+1

exit codes: 0 done; 1 finished with failed objects; 2 bad usage or input; 3 could not run`;

const COPY_OPTIONS = {
  ...JOB_OPTIONS,
  engine: { type: 'string' },
  resume: { type: 'string' },
  'state-machine-arn': { type: 'string' },
  // Tuning for tests: the local per-invocation time budget.
  'invocation-ms': { type: 'string' },
  'from-inventory': { type: 'string' },
} as const;

/** sync and plan take copy's options and these. */
const SYNC_OPTIONS = {
  ...COPY_OPTIONS,
  delete: { type: 'boolean' },
  'max-delete': { type: 'string' },
  force: { type: 'boolean' },
  'size-only': { type: 'boolean' },
  checksum: { type: 'boolean' },
} as const;

/** restore, and plan (a restore's plan), take these. */
const RESTORE_OPTIONS = {
  at: { type: 'string' },
  'thaw-tier': { type: 'string' },
  'thaw-days': { type: 'string' },
  'thaw-check-seconds': { type: 'string' },
} as const;

const PLAN_OPTIONS = { ...SYNC_OPTIONS, ...RESTORE_OPTIONS, restore: { type: 'boolean' }, estimate: { type: 'boolean' } } as const;

type CopyValues = ReturnType<typeof parseSyncArgs>['values'];

function parseSyncArgs(args: string[], options: typeof COPY_OPTIONS | typeof SYNC_OPTIONS | typeof PLAN_OPTIONS) {
  return parseArgs({ args, options: options as typeof PLAN_OPTIONS, allowPositionals: true, strict: true });
}

/**
 * A restore's options, checked: the instant must be a past instant with its zone (a local time
 * would mean different instants on different machines).
 */
function restoreOptions(o: CopyValues, now = new Date()): RestoreOptions {
  const at = o.at;
  if (at !== undefined) {
    const when = Date.parse(at);
    if (!/(Z|[+-]\d\d:?\d\d)$/i.test(at) || !/^\d{4}-\d\d-\d\dT/.test(at) || Number.isNaN(when)) {
      throw new BadInputError(`--at: an ISO 8601 instant with its zone, e.g. 2026-11-01T00:00:00Z, not "${at}"`);
    }
    if (when > now.getTime()) throw new BadInputError(`--at ${at} is in the future: there is no state to restore yet`);
  }
  const tier = o['thaw-tier'] ?? DEFAULT_RESTORE.thawTier;
  if (tier !== 'Bulk' && tier !== 'Standard' && tier !== 'Expedited') throw new BadInputError(`--thaw-tier: Bulk, Standard or Expedited, not "${tier}"`);
  return {
    ...(at !== undefined && { at: new Date(Date.parse(at)).toISOString() }),
    thawTier: tier,
    thawDays: positiveInt(o['thaw-days'], '--thaw-days', DEFAULT_RESTORE.thawDays),
    thawCheckSeconds: positiveInt(o['thaw-check-seconds'], '--thaw-check-seconds', DEFAULT_RESTORE.thawCheckSeconds),
  };
}

/** Without --delete a sync leaves extra objects; with it, at most this share of the destination goes. */
const DEFAULT_MAX_DELETE_PERCENT = 50;

function syncOptions(o: CopyValues): SyncOptions {
  if (o['size-only'] && o.checksum) throw new BadInputError('--size-only and --checksum: one or the other');
  const max = o['max-delete'];
  const maxDeletePercent = max === undefined ? DEFAULT_MAX_DELETE_PERCENT : Number(max.replace(/%$/, ''));
  if (!Number.isFinite(maxDeletePercent) || maxDeletePercent < 0 || maxDeletePercent > 100) {
    throw new BadInputError(`--max-delete: a percentage from 0 to 100, not "${max}"`);
  }
  if ((max !== undefined || o.force) && !o.delete) throw new BadInputError('--max-delete and --force apply to --delete');
  return {
    compare: o['size-only'] ? 'size-only' : o.checksum ? 'checksum' : 'time',
    delete: Boolean(o.delete),
    maxDeletePercent,
    force: Boolean(o.force),
  };
}

type Mode = 'copy' | 'sync' | 'plan' | 'restore';

/** The job bucket `ferry serve` creates for the local Step Functions endpoint. */
const LOCAL_JOB_BUCKET = 'ferry-jobs';

/** Runs one command; returns the exit code. Never throws: errors become one line on stderr. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    const [command, ...rest] = argv;
    if (command === 'copy') return await copyCommand(rest, 'copy');
    if (command === 'sync') return await copyCommand(rest, 'sync');
    if (command === 'plan') return await copyCommand(rest, 'plan');
    if (command === 'restore') return await copyCommand(rest, 'restore');
    if (command === 'verify') return await verifyCommand(rest);
    if (command === 'serve') return await serveCommand(rest);
    if (command === 'scan' || command === 'work' || command === 'status') {
      // Loaded here, as the cloud engine is: their SQS and Step Functions clients would cost every
      // other command's start a twentieth of a second.
      const { scanCommand, statusCommand, workCommand } = await import('./fleet.ts');
      return await (command === 'scan' ? scanCommand : command === 'work' ? workCommand : statusCommand)(rest, USAGE);
    }
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    }
    throw new BadInputError(`unknown command "${command}" (ferry --help lists them)`);
  } catch (err) {
    return fail(err);
  }
}

function fail(err: unknown): number {
  const e = err as Error;
  const code = e instanceof BadInputError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 3;
  process.stderr.write(`ferry: ${e.message}\n`);
  if (process.env.FERRY_DEBUG) process.stderr.write(`${e.stack}\n`);
  return code;
}

/**
 * copy, sync and plan: a sync copies only what differs (and may delete), a plan is a sync's dry run
 * that prints what it would do.
 */
async function copyCommand(args: string[], mode: Mode): Promise<number> {
  const options = mode === 'copy' ? COPY_OPTIONS : mode === 'sync' ? SYNC_OPTIONS : mode === 'restore' ? { ...COPY_OPTIONS, ...RESTORE_OPTIONS } : PLAN_OPTIONS;
  const { values: o, positionals } = parseSyncArgs(args, options);
  if (o.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (o.resume !== undefined) {
    if (mode === 'plan') throw new BadInputError('plan changes nothing: there is nothing to resume');
    return resumeCopy(o.resume, positionals, o);
  }
  if (positionals.length !== 2) throw new BadInputError(`${mode} needs a source and a destination: ferry ${mode} SRC DST`);
  // A plan with --at or --restore is a restore's plan.
  const restore = mode === 'restore' || o.restore || o.at !== undefined ? restoreOptions(o) : undefined;
  const sync = mode === 'copy' || restore ? undefined : syncOptions(o);
  if (restore && (o.delete || o['size-only'] || o.checksum)) throw new BadInputError('a restore copies every object it finds: --delete, --size-only and --checksum are for sync');
  if (restore && o.estimate) throw new BadInputError("--estimate prices copies and syncs; a restore's plan prices its thaws (without --estimate)");
  if (mode === 'plan') o['dry-run'] = true;
  const from = parseLocation(positionals[0] as string);
  const to = parseLocation(positionals[1] as string);
  if (o['from-inventory'] !== undefined && (restore || from.kind === 'dir' || to.kind === 'dir')) {
    throw new BadInputError('--from-inventory is for copies between buckets (copy, sync and plan s3:// s3://), not restores, pushes or pulls');
  }
  if (sync && from.kind === 'dir' && to.kind === 'dir') throw new BadInputError(`${mode} takes s3:// on at least one side`);
  if (from.kind === 'dir') {
    if (restore) throw new BadInputError('a restore reads a bucket: its source is s3://bucket[/prefix]');
    return pushCommand(from.path, s3Location(positionals[1] as string, 'destination'), o, mode, sync);
  }
  const source = s3Location(positionals[0] as string, 'source');
  if (to.kind === 'dir') return pullCommand(source, to.path, o, mode, sync, restore);
  const destination = s3Location(positionals[1] as string, 'destination');
  if (overlaps(source, destination)) {
    // A restore never writes to its source; a copy into itself would read what it writes.
    throw new BadInputError(`the destination ${formatS3(destination)} overlaps the source ${formatS3(source)}${restore ? ': a restore never writes to its source' : ''}`);
  }
  const engine = o.engine ?? 'local';
  if (engine !== 'local' && engine !== 'aws') throw new BadInputError(`--engine: "local" or "aws", not "${engine}"`);
  const sourceSide = sideConfig(o, 'source');
  const destSide = sideConfig(o, 'dest');
  const base = jobBase(o);
  const progress = new ProgressLine({ quiet: Boolean(o.json) });

  // Nothing is written until both sides answer.
  await checkSource(s3Client(sourceSide), source);
  if (restore?.at) await assertVersioned(s3Client(sourceSide), source.bucket);
  const destinationRegion = await checkDestination(s3Client(destSide), destination);
  // The report is fixed when the job is made, so a resumed job reads the same one.
  const inventory = o['from-inventory'] === undefined ? undefined : await resolveInventory(s3Client(sourceSide), o['from-inventory']);
  if (inventory !== undefined) {
    const manifest = await readInventoryManifest(s3Client(sourceSide), inventory, source.bucket);
    const taken = manifest.creationTimestamp ? new Date(Number(manifest.creationTimestamp)).toISOString() : 'an unknown time';
    process.stderr.write(`ferry: source listed from the inventory of ${taken} (${inventory}, ${manifest.files.length} files); objects written since are not in it\n`);
  }

  const job: CopyJob = {
    ...base,
    transfer: restore ? readableCopies(base.transfer) : base.transfer,
    kind: 'copy',
    source: { ...source, ...dropUndefined(sourceSide) },
    destination: { ...destination, ...dropUndefined(destSide) },
    ...(sync && { sync }),
    ...(restore && { restore }),
    ...(inventory !== undefined && { inventory }),
  };

  let store: JobStore;
  let result: Report;
  let where: (key: string) => string;
  if (engine === 'local') {
    const dir = path.resolve(o['job-dir'] ?? path.join('.ferry', 'jobs'));
    store = new DirectoryJobStore(dir);
    where = (key) => path.join(dir, key);
    await store.put(jobKeys.job(job.jobId), JSON.stringify(job, null, 2));
    result = await runLocalJob(job, store, progress, o);
  } else {
    const stateMachineArn = o['state-machine-arn'] ?? process.env.FERRY_STATE_MACHINE_ARN;
    const jobBucket = o['job-bucket'] ?? process.env.FERRY_JOB_BUCKET;
    if (!stateMachineArn || !jobBucket) {
      throw new BadInputError('--engine aws needs --state-machine-arn and --job-bucket (the stack outputs them)');
    }
    // In the cloud the Lambdas reach S3 with their roles (and assume the sides' roles): endpoints and profiles stay local.
    const roleOf = ({ roleArn, externalId }: typeof sourceSide) => dropUndefined({ roleArn, externalId });
    const cloudJob: CopyJob = { ...job, source: { ...source, ...roleOf(sourceSide) }, destination: { ...destination, ...roleOf(destSide) } };
    const s3Store = new S3JobStore(s3Client({ profile: o.profile, region: o.region }), jobBucket);
    store = s3Store;
    where = (key) => `s3://${jobBucket}/${s3Store.locate(key)}`;
    await store.put(jobKeys.job(job.jobId), JSON.stringify(cloudJob, null, 2));
    const { runAws } = await import('./engines.ts'); // loaded here: see the fleet commands
    result = await runAws(cloudJob, { stateMachineArn, progress, store, profile: o.profile, region: o.region }).finally(() =>
      progress.stop(),
    );
  }

  if (mode === 'plan' || (restore && job.dryRun)) {
    const priced = o.estimate && {
      route: sameService(job.source, job.destination) ? ('server-side' as const) : ('streamed' as const),
      engine: engine as 'local' | 'aws',
      transfer: job.transfer,
      regions: { source: await bucketRegion(s3Client(sourceSide), source.bucket), destination: destinationRegion },
    };
    return planSummary(result, store, job.jobId, Boolean(o.json), priced || undefined);
  }
  if (sync && job.dryRun && !o.json) await printActions(store, job.jobId);
  return finish(result, where, Boolean(o.json));
}

/** A sync's dry run: one line per action on stdout, in key order of each kind. */
async function printActions(store: JobStore, jobId: string): Promise<void> {
  const plan = await getJson<PlanState>(store, jobKeys.plan(jobId));
  for (let n = 1; n <= plan.manifests; n++) {
    const lines = parseManifest(await getText(store, jobKeys.manifest(jobId, n)));
    process.stdout.write(lines.map((l) => `copy ${l.k} (${REASONS[l.r ?? ''] ?? 'copy'})\n`).join(''));
  }
  for (let n = 1; n <= (plan.deleteManifests ?? 0); n++) {
    const lines = parseManifest(await getText(store, jobKeys.deletes(jobId, n)));
    process.stdout.write(lines.map((l) => `delete ${l.k}\n`).join(''));
  }
}

const REASONS: Record<string, string> = {
  missing: 'not at the destination',
  size: 'sizes differ',
  newer: 'changed since the destination was written',
  checksum: 'checksums differ',
};

/** `ferry plan`: what a sync would do, counted, and with --estimate priced; with --json, the dry run's report. */
async function planSummary(result: Report, store: JobStore, jobId: string, json: boolean, priced?: EstimateContext): Promise<number> {
  const plan = await getJson<PlanState>(store, jobKeys.plan(jobId));
  const estimate = priced && (await planEstimate(store, jobId, plan, result, priced));
  if (json) {
    process.stdout.write(`${JSON.stringify(estimate ? { ...result, estimate } : result)}\n`);
    return 0;
  }
  const reasons: Record<string, number> = {};
  for (let n = 1; n <= plan.manifests; n++) {
    for (const l of parseManifest(await getText(store, jobKeys.manifest(jobId, n)))) reasons[l.r ?? ''] = (reasons[l.r ?? ''] ?? 0) + 1;
  }
  const why = Object.entries(reasons)
    .sort(([a], [b]) => Object.keys(REASONS).indexOf(a) - Object.keys(REASONS).indexOf(b))
    .map(([r, n]) => `${n.toLocaleString('en-US')} ${REASONS[r] ?? 'to copy'}`)
    .join(', ');
  const count = (n: number) => n.toLocaleString('en-US');
  const job = await loadAnyJob(store, jobId);
  if (job.kind !== 'push' && job.restore) {
    process.stdout.write(`${restoreSummary(result, plan, job.restore).join('\n')}\n`);
    return 0;
  }
  const lines = [
    `${result.source} -> ${result.destination}`,
    `copy:      ${count(plan.objects)} objects, ${formatBytes(plan.bytes)}${why ? ` (${why})` : ''}`,
    `unchanged: ${count(plan.skipped ?? 0)} objects`,
    `only at the destination: ${count(plan.extra ?? 0)} objects` +
      (result.deletes ? (plan.deleteRefused ? `; not deleted: ${plan.deleteRefused}` : '; to delete (--delete)') : '; kept (no --delete)'),
    ...(estimate && priced ? estimateLines(estimate, priced) : []),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** A restore's plan: what it would copy, what needs thawing (per class, with the wait and the cost), what has no object then. */
function restoreSummary(result: Report, plan: PlanState, restore: RestoreOptions): string[] {
  const count = (n: number) => n.toLocaleString('en-US');
  const archived = Object.values(plan.archived ?? {}).reduce((n, c) => n + c.objects, 0);
  const lines = [
    `${result.source} -> ${result.destination}, as it was ${restore.at ? `at ${restore.at}` : 'now'}`,
    `restore: ${count(plan.objects)} objects, ${formatBytes(plan.bytes)} (${count(plan.objects - archived)} readable now, ${count(archived)} archived)`,
  ];
  for (const e of thawEstimate(plan.archived ?? {}, restore)) {
    const wait = e.hours ? `expected wait ${hoursText(e.hours)}` : `${restore.thawTier} is not offered for ${e.storageClass}`;
    const cost = e.dollars !== undefined ? `, about $${e.dollars.toFixed(2)} (retrieval and ${restore.thawDays} days of thawed copies; prices of ${PRICES_READ}, us-east-1)` : '';
    const maybe = e.storageClass === 'INTELLIGENT_TIERING' ? ' (if in its archive tiers)' : '';
    lines.push(`thaw ${restore.thawTier}: ${count(e.objects)} ${e.storageClass} objects${maybe}, ${formatBytes(e.bytes)}; ${wait}${cost}`);
  }
  if (plan.absent) lines.push(`no object then: ${count(plan.absent.deleted)} keys deleted at that time, ${count(plan.absent.later)} written later`);
  return lines;
}

function hoursText([low, high]: [number, number]): string {
  if (high < 1) return `${Math.round(low * 60)}-${Math.round(high * 60)} minutes`;
  return low > 0 ? `${low}-${high} hours` : `up to ${high} hours`;
}

/**
 * `ferry verify SRC DST`: both listings merge-joined; each difference printed on stdout as it is
 * found (`missing|extra|size|checksum KEY: detail`) and kept in differences.csv beside a report.
 */
async function verifyCommand(args: string[]): Promise<number> {
  const { values: o, positionals } = parseArgs({
    args,
    options: { ...JOB_OPTIONS, deep: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 2) throw new BadInputError('verify needs a source and a destination: ferry verify SRC DST');
  const side = async (text: string, role: 'source' | 'dest'): Promise<VerifySide> => {
    const loc = parseLocation(text);
    if (loc.kind === 'dir') {
      const info = await stat(loc.path).catch(() => undefined);
      if (!info?.isDirectory()) throw new BadInputError(`${text}: not a directory`);
      return { kind: 'dir', path: path.resolve(loc.path) };
    }
    const client = s3Client(sideConfig(o, role));
    await checkSource(client, loc);
    return { ...loc, client };
  };
  const [source, destination] = [await side(positionals[0] as string, 'source'), await side(positionals[1] as string, 'dest')];
  if (source.kind === 'dir' && destination.kind === 'dir') throw new BadInputError('verify takes s3:// on at least one side');
  const jobId = newJobId();
  const dir = path.resolve(o['job-dir'] ?? path.join('.ferry', 'jobs'));
  const store = new DirectoryJobStore(dir);
  const started = Date.now();
  const csv = ['key,difference,detail'];
  const counts = await verify(
    source,
    destination,
    { include: o.include ?? [], exclude: o.exclude ?? [], deep: Boolean(o.deep) },
    (d) => {
      csv.push([d.key, d.kind, d.detail].map(csvField).join(','));
      if (!o.json) process.stdout.write(`${d.kind} ${d.key}: ${d.detail}\n`);
    },
  );
  const differences = counts.missing + counts.extra + counts.differ;
  const result = {
    jobId,
    status: differences === 0 ? 'same' : 'different',
    source: source.kind === 'dir' ? source.path : formatS3(source),
    destination: destination.kind === 'dir' ? destination.path : formatS3(destination),
    objects: counts,
    durationMs: Date.now() - started,
    differencesPath: path.join(dir, jobKeys.differences(jobId)),
  };
  await store.put(jobKeys.differences(jobId), `${csv.join('\n')}\n`);
  await store.put(jobKeys.report(jobId), `${JSON.stringify(result, null, 2)}\n`);
  if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    const n = (x: number) => x.toLocaleString('en-US');
    process.stderr.write(
      `ferry: ${result.status}: ${n(counts.source)} objects in the source, ${n(counts.destination)} at the destination; ` +
        `${n(counts.matched)} match, ${n(counts.sizeOnly)} match in size (no comparable checksum${o.deep ? '' : '; --deep reads them'}), ` +
        `${n(counts.missing)} missing, ${n(counts.extra)} extra, ${n(counts.differ)} differ\n` +
        (differences ? `ferry: the list is in ${result.differencesPath}\n` : ''),
    );
  }
  return differences === 0 ? 0 : 1;
}

/** Runs a job on the local engine; Ctrl-C leaves it resumable and says how. */
async function runLocalJob(job: CopyJob, store: JobStore, progress: ProgressLine, o: CopyValues, resumeFrom?: PlanState): Promise<Report> {
  if (!o.json) process.stderr.write(`ferry: job ${job.jobId}: ${formatS3(job.source)} -> ${formatS3(job.destination)}\n`);
  const interrupted = () => {
    progress.stop();
    const dir = o['job-dir'] ? ` --job-dir ${o['job-dir']}` : '';
    process.stderr.write(`\nferry: interrupted; carry on with: ferry copy --resume ${job.jobId}${dir}\n`);
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    // Loaded here: the state machine interpreter costs pulls and pushes a tenth of a second to load.
    const { runLocal } = await import('../local/run-copy.ts');
    return await runLocal(job, {
      store,
      progress,
      invocationMs: o['invocation-ms'] ? positiveInt(o['invocation-ms'], '--invocation-ms', 0) : 900_000,
      resumeFrom,
    });
  } finally {
    progress.stop();
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
}

/** `ferry copy DIR s3://B/P`: push a tree from this process. */
async function pushCommand(dir: string, destination: S3Location, o: CopyValues, mode: Mode, sync?: SyncOptions): Promise<number> {
  const root = path.resolve(dir);
  const info = await stat(root).catch(() => undefined);
  if (!info?.isDirectory()) throw new BadInputError(`source ${dir}: not a directory`);
  if (o.engine === 'aws') throw new BadInputError('a directory is pushed from this machine: --engine aws does not apply');
  const destSide = sideConfig(o, 'dest');
  const base = jobBase(o);
  await checkDestination(s3Client(destSide), destination);
  const job: PushJob = {
    ...base,
    kind: 'push',
    source: { kind: 'dir', path: root },
    destination: { ...destination, ...dropUndefined(destSide) },
    followSymlinks: Boolean(o['follow-symlinks']),
    ...(sync && { sync }),
  };
  return runInProcess(job, o, `${root} -> ${formatS3(destination)}`, (deps) => push(job, deps), mode);
}

/** `ferry copy s3://B/P DIR`: pull objects into a directory from this process. */
async function pullCommand(source: S3Location, dir: string, o: CopyValues, mode: Mode, sync?: SyncOptions, restore?: RestoreOptions): Promise<number> {
  const root = path.resolve(dir);
  const info = await stat(root).catch(() => undefined);
  if (info && !info.isDirectory()) throw new BadInputError(`destination ${dir}: exists and is not a directory`);
  if (o.engine === 'aws') throw new BadInputError('a directory is filled from this machine: --engine aws does not apply');
  const sourceSide = sideConfig(o, 'source');
  const base = jobBase(o);
  await checkSource(s3Client(sourceSide), source);
  if (restore?.at) await assertVersioned(s3Client(sourceSide), source.bucket);
  const job: PullJob = {
    ...base,
    kind: 'pull',
    source: { ...source, ...dropUndefined(sourceSide) },
    destination: { kind: 'dir', path: root },
    ...(sync && { sync }),
    ...(restore && { restore }),
  };
  if (!job.dryRun) await mkdir(root, { recursive: true });
  return runInProcess(job, o, `${formatS3(source)} -> ${root}`, (deps) => pull(job, deps), mode);
}

/**
 * Runs a push or pull in this process with a local job store and the progress line. Ctrl-C or
 * SIGTERM stops it cleanly: nothing new is started, what is in flight finishes (no temporary file
 * or open multipart upload is left), the report lists what was not done; a second signal ends it now.
 */
async function runInProcess(
  job: PushJob | PullJob,
  o: CopyValues,
  what: string,
  run: (deps: InProcessDeps) => Promise<Report>,
  mode: Mode,
): Promise<number> {
  const jobDir = path.resolve(o['job-dir'] ?? path.join('.ferry', 'jobs'));
  const store = new DirectoryJobStore(jobDir);
  await store.put(jobKeys.job(job.jobId), JSON.stringify(job, null, 2));
  if (!o.json) process.stderr.write(`ferry: job ${job.jobId}: ${what}\n`);
  const progress = new ProgressLine({ quiet: Boolean(o.json) });
  let stopping: string | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(signal === 'SIGINT' ? 130 : 143);
    stopping = signal;
    process.stderr.write(`\nferry: ${signal}: finishing what is in flight (again to stop at once)\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const deps = { store, s3: s3Client, pool: poolFor(job.transfer.concurrency, maxBuffered(o)), progress, stop: () => stopping !== undefined };
    const result = await run(deps).finally(() => progress.stop());
    if (mode === 'plan' || (job.kind === 'pull' && job.restore && job.dryRun)) {
      const priced = o.estimate ? { route: job.kind, engine: 'local' as const, transfer: job.transfer } : undefined;
      return await planSummary(result, store, job.jobId, Boolean(o.json), priced);
    }
    if (mode === 'sync' && job.dryRun && !o.json) await printActions(store, job.jobId);
    const code = finish(result, (key) => path.join(jobDir, key), Boolean(o.json));
    if (!stopping) return code;
    const again = job.kind === 'push' ? ': files already sent are skipped' : '';
    process.stderr.write(`ferry: interrupted; run the same command again to finish${again}\n`);
    return stopping === 'SIGINT' ? 130 : 143;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function resumeCopy(jobId: string, positionals: string[], o: CopyValues): Promise<number> {
  if (positionals.length) throw new BadInputError('--resume takes no SRC DST: the job already has them');
  if (o.engine === 'aws') throw new BadInputError('--resume is for local jobs: a cloud execution resumes on its own');
  const dir = path.resolve(o['job-dir'] ?? path.join('.ferry', 'jobs'));
  const store = new DirectoryJobStore(dir);
  if ((await store.get(jobKeys.job(jobId))) === undefined) throw new BadInputError(`no job ${jobId} in ${dir}`);
  const job = await loadJob(store, jobId);
  if ((await store.get(jobKeys.report(jobId))) !== undefined) throw new BadInputError(`job ${jobId} has finished: its report is in ${dir}`);
  await checkSource(s3Client(job.source), job.source);
  await checkDestination(s3Client(job.destination), job.destination);
  const saved = await store.get(jobKeys.plan(jobId));
  const progress = new ProgressLine({ quiet: Boolean(o.json) });
  const result = await runLocalJob(job, store, progress, o, saved ? (JSON.parse(saved) as PlanState) : undefined);
  return finish(result, (key) => path.join(dir, key), Boolean(o.json));
}

async function serveCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { port: { type: 'string' } }, strict: true });
  const port = values.port === undefined ? 4566 : positiveInt(values.port, '--port', 4566);
  const listenError = (p: number) => (err: Error) => {
    throw new CannotRunError(`cannot listen on 127.0.0.1:${p}: ${err.message}`);
  };
  // Loaded here: the servers' frameworks cost every other command a tenth of a second to load.
  const { createWorkQueue, embeddedClient, startEmbedded } = await import('../local/server.ts');
  const { LOCAL_STATE_MACHINE_ARN, startStepFunctionsEndpoint } = await import('../local/sfn-endpoint.ts');
  const server = await startEmbedded({ port }).catch(listenError(port));
  await embeddedClient(server.endpoint).send(new CreateBucketCommand({ Bucket: LOCAL_JOB_BUCKET }));
  const sfn = await startStepFunctionsEndpoint({ s3Endpoint: server.endpoint, jobBucket: LOCAL_JOB_BUCKET, port: port + 1 }).catch(
    listenError(port + 1),
  );
  const queue = await createWorkQueue(server.endpoint, 'ferry-work');
  process.stderr.write(
    `ferry: embedded S3 + SQS endpoint at ${server.endpoint} (in memory; Ctrl-C stops it)\n` +
      `ferry: local Step Functions endpoint at ${sfn.endpoint}, for --engine aws\n` +
      `  export AWS_ENDPOINT_URL=${server.endpoint} AWS_ENDPOINT_URL_SFN=${sfn.endpoint} AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1\n` +
      `  ferry copy s3://SRC s3://DST --engine aws --state-machine-arn ${LOCAL_STATE_MACHINE_ARN} --job-bucket ${LOCAL_JOB_BUCKET}\n` +
      `ferry: work queue for fleet mode at ${queue} (dead letters after 5 receives)\n` +
      `  ferry scan DIR --to s3://DST --queue ${queue} --job-bucket ${LOCAL_JOB_BUCKET}\n` +
      `  ferry work --queue ${queue}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await sfn.stop();
  await server.stop();
  return 0;
}
