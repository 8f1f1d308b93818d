import { BadInputError } from './errors.ts';

export interface S3Location {
  readonly kind: 's3';
  readonly bucket: string;
  /** Empty, or ends with '/': `s3://b/photos` means everything under `photos/`, as a directory would. */
  readonly prefix: string;
}

export interface DirLocation {
  readonly kind: 'dir';
  readonly path: string;
}

export type Location = S3Location | DirLocation;

// S3's rules for bucket names, plus the legacy upper-case/underscore names some old buckets still have.
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$/;

export function parseLocation(text: string): Location {
  if (/^[a-z0-9]+:\/\//i.test(text) && !text.startsWith('s3://')) {
    throw new BadInputError(`unsupported location "${text}": use s3://bucket[/prefix] or a directory path`);
  }
  if (!text.startsWith('s3://')) {
    if (text === '') throw new BadInputError('empty location');
    return Object.freeze({ kind: 'dir', path: text });
  }
  const rest = text.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  let prefix = slash === -1 ? '' : rest.slice(slash + 1);
  if (!BUCKET.test(bucket) || bucket.includes('..')) {
    throw new BadInputError(`invalid bucket name "${bucket}" in "${text}"`);
  }
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
  if (Buffer.byteLength(prefix) > 1024) throw new BadInputError(`prefix longer than 1,024 bytes in "${text}"`);
  return Object.freeze({ kind: 's3', bucket, prefix });
}

export function formatS3(loc: S3Location, key = ''): string {
  return `s3://${loc.bucket}/${loc.prefix}${key}`;
}

/** Whether two S3 locations share keys: a copy from one into the other would read its own output. */
export function overlaps(a: S3Location, b: S3Location): boolean {
  return a.bucket === b.bucket && (a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix));
}
