import type { JobStore } from './jobstore.ts';
import type { ListedObject } from './listing.ts';

/** One line of a manifest (JSONL), short field names because manifests hold millions of lines. */
export interface ManifestLine {
  /** Key relative to the source prefix (and to the destination prefix). */
  k: string;
  s: number;
  e?: string;
  /** Storage class, when not STANDARD. */
  c?: string;
  /** Version id (a restore at an instant): that version is copied, whatever is current. */
  v?: string;
  /** A sync's reason to copy: missing, size, newer or checksum (see `decide`). */
  r?: string;
}

export function toLine(o: ListedObject, reason?: string): string {
  const line: ManifestLine = { k: o.key, s: o.size };
  if (o.etag) line.e = o.etag;
  if (o.storageClass && o.storageClass !== 'STANDARD') line.c = o.storageClass;
  if (o.versionId) line.v = o.versionId;
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

/** JSON lines written to the job store `size` at a time, each batch under the key `keyOf(next())`. */
export class LineBatches {
  #lines: string[] = [];
  readonly #store: JobStore;
  readonly #keyOf: (n: number) => string;
  readonly #next: () => number;
  readonly #size: number;

  constructor(store: JobStore, keyOf: (n: number) => string, next: () => number, size: number) {
    this.#store = store;
    this.#keyOf = keyOf;
    this.#next = next;
    this.#size = size;
  }

  async add(line: object): Promise<void> {
    this.#lines.push(JSON.stringify(line));
    if (this.#lines.length >= this.#size) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.#lines.length === 0) return;
    const text = `${this.#lines.join('\n')}\n`;
    this.#lines = [];
    await this.#store.put(this.#keyOf(this.#next()), text);
  }
}
