// What the CLI's commands share: option tables, checks of option values, and the end of a job.
import { type EndpointConfig } from '../core/clients.ts';
import { BadInputError } from '../core/errors.ts';
import {
  DEFAULT_MANIFEST_MAX_BYTES,
  DEFAULT_MANIFEST_MAX_ENTRIES,
  defaultTransferOptions,
  newJobId,
  type TransferOptions,
} from '../core/job.ts';
import { parseLocation, type S3Location } from '../core/locations.ts';
import { DEFAULT_MAX_BUFFERED_BYTES } from '../core/pool.ts';
import type { Report } from '../core/report.ts';
import { formatBytes, parseSize } from '../core/size.ts';

/** Options every command that builds a job takes. */
export const JOB_OPTIONS = {
  'endpoint-url': { type: 'string' },
  'source-endpoint-url': { type: 'string' },
  'dest-endpoint-url': { type: 'string' },
  profile: { type: 'string' },
  'source-profile': { type: 'string' },
  'dest-profile': { type: 'string' },
  'source-role-arn': { type: 'string' },
  'dest-role-arn': { type: 'string' },
  'source-external-id': { type: 'string' },
  'dest-external-id': { type: 'string' },
  region: { type: 'string' },
  include: { type: 'string', multiple: true },
  exclude: { type: 'string', multiple: true },
  'dry-run': { type: 'boolean' },
  concurrency: { type: 'string' },
  json: { type: 'boolean' },
  'multipart-threshold': { type: 'string' },
  'part-size': { type: 'string' },
  'storage-class': { type: 'string' },
  sse: { type: 'string' },
  'sse-kms-key-id': { type: 'string' },
  'job-dir': { type: 'string' },
  'follow-symlinks': { type: 'boolean' },
  'job-bucket': { type: 'string' },
  'max-buffered': { type: 'string' },
  // Tuning for tests and benchmarks: manifest bounds.
  'manifest-max-entries': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parsed options, as the helpers below read them (each command checks its own). */
export type Values = { readonly [option: string]: string | boolean | string[] | undefined };

const STORAGE_CLASSES = [
  'STANDARD',
  'REDUCED_REDUNDANCY',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER',
  'DEEP_ARCHIVE',
  'GLACIER_IR',
];

export function positiveInt(text: string | undefined, option: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new BadInputError(`${option}: not a positive integer: "${text}"`);
  return n;
}

export function s3Location(text: string, role: string): S3Location {
  const loc = parseLocation(text);
  if (loc.kind !== 's3') {
    throw new BadInputError(`${role} "${text}": copy takes s3:// or a directory as its source and s3:// as its destination`);
  }
  return loc;
}

/** How one side is reached: its own options first, then the common ones. */
export function sideConfig(o: Values, side: 'source' | 'dest'): EndpointConfig {
  const text = (k: string) => o[k] as string | undefined;
  const roleArn = text(`${side}-role-arn`);
  const externalId = text(`${side}-external-id`);
  if (roleArn !== undefined && !/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@\/-]+$/.test(roleArn)) {
    throw new BadInputError(`--${side}-role-arn: not a role ARN (arn:aws:iam::ACCOUNT:role/NAME): "${roleArn}"`);
  }
  if (externalId !== undefined && roleArn === undefined) throw new BadInputError(`--${side}-external-id goes with --${side}-role-arn`);
  return {
    endpoint: text(`${side}-endpoint-url`) ?? text('endpoint-url'),
    profile: text(`${side}-profile`) ?? text('profile'),
    region: text('region'),
    roleArn,
    externalId,
  };
}

/** What every job takes from the command line, checked. */
export function jobBase(o: Values) {
  return {
    jobId: newJobId(),
    createdAt: new Date().toISOString(),
    include: (o.include as string[] | undefined) ?? [],
    exclude: (o.exclude as string[] | undefined) ?? [],
    dryRun: Boolean(o['dry-run']),
    transfer: transferOptions(o),
    manifestMaxEntries: positiveInt(o['manifest-max-entries'] as string | undefined, '--manifest-max-entries', DEFAULT_MANIFEST_MAX_ENTRIES),
    manifestMaxBytes: DEFAULT_MANIFEST_MAX_BYTES,
  };
}

export function finish(result: Report, where: (key: string) => string, json: boolean): number {
  const reportPath = where(result.reportKey);
  if (json) {
    const { jobId, status, objects, bytes, durationMs, deletes } = result;
    process.stdout.write(`${JSON.stringify({ jobId, status, objects, bytes, ...(deletes && { deletes }), durationMs, reportPath })}\n`);
  } else {
    process.stderr.write(summary(result, reportPath, where(result.failuresKey)));
  }
  return result.status === 'failed' ? 1 : 0;
}

export function transferOptions(o: { [k: string]: unknown }): TransferOptions {
  const text = (k: string) => o[k] as string | undefined;
  const concurrency = text('concurrency');
  const storageClass = text('storage-class');
  const sse = text('sse');
  if (storageClass !== undefined && !STORAGE_CLASSES.includes(storageClass)) {
    throw new BadInputError(`--storage-class: one of ${STORAGE_CLASSES.join(', ')}`);
  }
  if (sse !== undefined && sse !== 'AES256' && sse !== 'aws:kms') throw new BadInputError('--sse: AES256 or aws:kms');
  if (text('sse-kms-key-id') && sse !== 'aws:kms') throw new BadInputError('--sse-kms-key-id needs --sse aws:kms');
  const partSize = text('part-size') ? parseSize(text('part-size') as string, '--part-size') : 0;
  if (partSize && (partSize < 5 * 1024 * 1024 || partSize > 5 * 1024 ** 3)) {
    throw new BadInputError('--part-size: between 5MiB and 5GiB (S3 limits)');
  }
  const threshold = text('multipart-threshold')
    ? parseSize(text('multipart-threshold') as string, '--multipart-threshold')
    : defaultTransferOptions.multipartThreshold;
  if (threshold > 5 * 1024 ** 3) throw new BadInputError('--multipart-threshold: at most 5GiB (the largest single copy)');
  return Object.freeze({
    multipartThreshold: threshold,
    partSize,
    concurrency: concurrency === undefined || concurrency === 'auto' ? 0 : positiveInt(concurrency, '--concurrency', 0),
    ...(storageClass && { storageClass }),
    ...(sse && { sse }),
    ...(text('sse-kms-key-id') && { sseKmsKeyId: text('sse-kms-key-id') }),
  });
}

export function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function summary(r: Report, reportPath: string, failuresPath: string): string {
  const seconds = r.durationMs / 1000;
  const lines = [
    `ferry: ${r.status}: ${r.objects.copied.toLocaleString('en-US')} of ${r.objects.total.toLocaleString('en-US')} objects copied` +
      ` (${formatBytes(r.bytes.copied)} of ${formatBytes(r.bytes.total)}) in ${seconds.toFixed(1)} s` +
      `, ${(r.objects.copied / Math.max(seconds, 0.001)).toFixed(0)} obj/s, ${r.retries} retries` +
      (r.objects.skipped > 0 ? `; ${r.objects.skipped.toLocaleString('en-US')} skipped (already there)` : ''),
  ];
  if (r.deletes) {
    const d = r.deletes;
    lines.push(
      r.status === 'dry-run'
        ? `ferry: would delete ${d.planned.toLocaleString('en-US')} objects the source does not have` + (d.withheld ? `, but: ${d.withheld}` : '')
        : d.withheld
        ? `ferry: deleted none of the ${d.planned.toLocaleString('en-US')} objects the source does not have: ${d.withheld}`
        : `ferry: deleted ${d.deleted.toLocaleString('en-US')} of the ${d.planned.toLocaleString('en-US')} objects the source does not have` +
            (d.failed ? ` (${d.failed} failed)` : ''),
    );
  } else if (r.destinationOnly) {
    lines.push(`ferry: ${r.destinationOnly.toLocaleString('en-US')} objects at the destination are not in the source (kept; --delete removes them)`);
  }
  if (r.error) lines.push(`ferry: the copy stage failed: ${r.error}`);
  if (r.objects.failed > 0) {
    const codes = Object.entries(r.failuresByCode)
      .map(([c, n]) => `${c} ${n}`)
      .join(', ');
    lines.push(`ferry: ${r.objects.failed} failed (${codes}); the list is in ${failuresPath}`);
  }
  lines.push(`ferry: report: ${reportPath} (report.html beside it)`);
  return `${lines.join('\n')}\n`;
}


/** --max-buffered: bytes of file and object bodies held in memory at once (small files are read whole). */
export function maxBuffered(o: Values): number {
  const text = o['max-buffered'] as string | undefined;
  if (text === undefined) return DEFAULT_MAX_BUFFERED_BYTES;
  const bytes = parseSize(text, '--max-buffered');
  if (bytes < 1024 * 1024) throw new BadInputError('--max-buffered: at least 1MiB');
  return bytes;
}
