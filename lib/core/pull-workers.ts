// Small whole downloads on worker threads. A pull of small files is bound by one JavaScript thread
// doing, per file, a request, its signing and parsing, and five file-system calls; workers each do
// whole downloads (GET, write, mtime, rename) over their own connections, signing with the main
// thread's credentials (no SDK to load), so that work spreads over the cores. The main thread keeps
// the listing, the pool, the counts and everything larger, and fetches small files itself until a
// worker has loaded (about a third of a second).
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Credentials, LeanS3, SharedPath } from './lean-s3.ts';
import type { ListedObject } from './listing.ts';

/** What a worker is asked: one object, fetched whole into `file`. */
export interface WholeDownload {
  readonly bucket: string;
  readonly key: string;
  readonly entry: ListedObject;
  readonly file: string;
  /** Written with synchronous calls: the destination is on a local file system. */
  readonly direct: boolean;
}

/** An error as it crossed the thread boundary: enough for `classify` and the report. */
export interface SentError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly Code?: string;
  readonly status?: number;
}

/** A download's outcome, as a worker posts it back (in batches). */
export interface Outcome {
  readonly id: number;
  readonly error?: SentError;
}

export function sendable(err: unknown): SentError {
  const e = err as { name?: string; message?: string; code?: unknown; Code?: string; $metadata?: { httpStatusCode?: number } };
  return {
    name: e?.name ?? 'Error',
    message: String(e?.message ?? err),
    ...(typeof e?.code === 'string' && { code: e.code }),
    ...(e?.Code !== undefined && { Code: e.Code }),
    ...(e?.$metadata?.httpStatusCode !== undefined && { status: e.$metadata.httpStatusCode }),
  };
}

export function revived(sent: SentError): Error {
  const err = new Error(sent.message) as Error & { code?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  err.name = sent.name;
  if (sent.code !== undefined) err.code = sent.code;
  if (sent.Code !== undefined) err.Code = sent.Code;
  if (sent.status !== undefined) err.$metadata = { httpStatusCode: sent.status };
  return err;
}

/** Worker threads for whole downloads: one per core beyond the first, at most 4 (none on one core). */
export function workerCount(): number {
  const fromEnv = process.env.FERRY_PULL_WORKERS;
  if (fromEnv !== undefined) return Math.max(0, Number(fromEnv) || 0);
  return Math.min(4, Math.max(0, os.availableParallelism() - 1)) || 0;
}

interface Slot {
  readonly worker: Worker;
  pending: number;
  /** Loaded and taking downloads. */
  ready: boolean;
  /** Downloads not yet posted: they go in one message a turn of the event loop, as outcomes come back. */
  outbox: Asked[];
}

/** A download as posted to a worker. */
export interface Asked {
  readonly id: number;
  readonly request: WholeDownload;
}

/** What the main thread posts a worker: downloads, or the fresh credentials it asked for. */
export type ToWorker = Asked[] | { credentials: Credentials } | { credentialsError: SentError };

/** What a worker posts back: loaded, outcomes, or a request for fresh credentials. */
export type FromWorker = 'ready' | 'credentials' | Outcome[];

export class DownloadWorkers {
  readonly #workers: Slot[] = [];
  readonly #waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void; slot: Slot }>();
  #next = 0;
  readonly #lean: LeanS3;
  readonly #count: number;
  #started = false;

  constructor(lean: LeanS3, count: number) {
    this.#lean = lean;
    this.#count = count;
  }

  /**
   * Starts the workers, once: when there are small files to fetch (a pull of large ones loads none).
   * They sign with this thread's credentials, and ask it for fresh ones before those expire.
   */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    // Without credentials no worker starts: the main thread's own requests meet the same error and report it.
    this.#lean.share().then(
      (path) => {
        for (let i = 0; i < this.#count; i++) this.#spawn(path);
      },
      () => {},
    );
  }

  #spawn(path: SharedPath): void {
    const worker = new Worker(new URL('./pull-worker.ts', import.meta.url), { workerData: { path }, execArgv: process.execArgv });
    const slot: Slot = { worker, pending: 0, ready: false, outbox: [] };
    worker.on('message', (message: FromWorker) => {
      if (message === 'ready') {
        slot.ready = true;
        return;
      }
      if (message === 'credentials') {
        this.#lean.sharedCredentials().then(
          (credentials) => worker.postMessage({ credentials } satisfies ToWorker),
          (err: unknown) => worker.postMessage({ credentialsError: sendable(err) } satisfies ToWorker),
        );
        return;
      }
      for (const { id, error } of message) {
        const waiting = this.#waiting.get(id);
        if (!waiting) continue;
        this.#waiting.delete(id);
        if (--waiting.slot.pending === 0) waiting.slot.worker.unref();
        if (error) waiting.reject(revived(error));
        else waiting.resolve();
      }
    });
    worker.on('error', (err) => {
      // A worker that dies fails what it held; those files are retried like any failed request.
      for (const [id, waiting] of this.#waiting) {
        if (waiting.slot !== slot) continue;
        this.#waiting.delete(id);
        waiting.reject(Object.assign(new Error(`download worker: ${err.message}`), { code: 'ECONNRESET' }));
      }
      slot.pending = 0;
      this.#workers.splice(this.#workers.indexOf(slot), 1);
    });
    worker.unref(); // after the listeners, which ref it again: an idle worker keeps nothing alive; one with work is ref'd
    this.#workers.push(slot);
  }

  /** Whether a worker can take a download; until then the main thread does them. */
  get ready(): boolean {
    return this.#workers.some((s) => s.ready);
  }

  /** Fetches one object whole on the least busy worker that is ready. */
  download(request: WholeDownload): Promise<void> {
    let slot: Slot | undefined;
    for (const s of this.#workers) if (s.ready && (!slot || s.pending < slot.pending)) slot = s;
    if (!slot) return Promise.reject(new Error('no download worker ready'));
    const id = ++this.#next;
    if (slot.pending++ === 0) slot.worker.ref();
    const chosen = slot;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject, slot: chosen });
      if (chosen.outbox.push({ id, request }) === 1) {
        setImmediate(() => {
          chosen.worker.postMessage(chosen.outbox);
          chosen.outbox = [];
        });
      }
    });
  }
}
