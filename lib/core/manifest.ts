import type { ListedObject } from './listing.ts';

/** One line of a manifest (JSONL), short field names because manifests hold millions of lines. */
export interface ManifestLine {
  /** Key relative to the source prefix (and to the destination prefix). */
  k: string;
  s: number;
  e?: string;
  c?: string;
  /** A sync's reason to copy: missing, size, newer or checksum (see `decide`). */
  r?: string;
}

export function toLine(o: ListedObject, reason?: string): string {
  const line: ManifestLine = { k: o.key, s: o.size };
  if (o.etag) line.e = o.etag;
  if (o.storageClass && o.storageClass !== 'STANDARD') line.c = o.storageClass;
  if (reason) line.r = reason;
  return JSON.stringify(line);
}

export function parseManifest(text: string): ManifestLine[] {
  const lines: ManifestLine[] = [];
  for (const raw of text.split('\n')) {
    if (raw !== '') lines.push(JSON.parse(raw) as ManifestLine);
  }
  return lines;
}

/** An item of the manifest index: what the Distributed Map hands each child execution. */
export interface IndexItem {
  manifest: string;
}
