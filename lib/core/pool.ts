/**
 * The one bounded, adaptive concurrency pool every transfer goes through.
 *
 * Whole small objects and parts of large ones share it, so no slot idles while a straggler finishes;
 * parts run first ('high'), so a started large object completes and releases its upload.
 *
 * The limit finds the knee by itself (hill climbing on completed operations per second):
 *   - every window, if the pool was saturated and throughput rose by more than 5% since the
 *     last step up, the limit grows by a quarter;
 *   - if throughput fell by more than 15% after a step up, the limit steps back;
 *   - any throttle (503 SlowDown) or reset in the window cuts the limit by a quarter at once.
 * A fixed `--concurrency N` disables adaptation.
 */
export interface PoolOptions {
  /** Starting limit; the fixed limit when `adaptive` is false. */
  readonly initial: number;
  readonly min?: number;
  readonly max?: number;
  readonly adaptive?: boolean;
  /** Length of one measuring window, in milliseconds. */
  readonly windowMs?: number;
  /**
   * Bytes of bodies held in memory at once by the tasks running (each says how many it holds): a
   * task waits while starting it would pass this, unless nothing else runs. @default 256 MiB
   */
  readonly maxBufferedBytes?: number;
}

type Priority = 'high' | 'normal';

interface Waiting {
  start: () => void;
  bytes: number;
}

export const DEFAULT_MAX_BUFFERED_BYTES = 256 * 1024 * 1024;

export class Pool {
  #limit: number;
  readonly #min: number;
  readonly #max: number;
  readonly #adaptive: boolean;
  readonly #windowMs: number;
  readonly #maxBuffered: number;
  #inFlight = 0;
  #buffered = 0;
  readonly #high: Waiting[] = [];
  readonly #normal: Waiting[] = [];
  // Measuring window.
  #windowStart = Date.now();
  #completedInWindow = 0;
  #saturatedInWindow = false;
  #throttledInWindow = false;
  #lastStepThroughput = 0;
  #limitBeforeStep = 0;

  constructor(options: PoolOptions) {
    this.#limit = options.initial;
    this.#min = options.min ?? Math.min(4, options.initial);
    this.#max = options.max ?? Math.max(options.initial, 512);
    this.#adaptive = options.adaptive ?? true;
    this.#windowMs = options.windowMs ?? 1000;
    this.#maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  }

  get limit(): number {
    return this.#limit;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get queued(): number {
    return this.#high.length + this.#normal.length;
  }

  /** Bytes of bodies the running tasks hold in memory. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Runs `task` when a slot is free and, if it holds `bytes` of body in memory, they fit the cap. */
  run<T>(task: () => Promise<T>, priority: Priority = 'normal', bytes = 0): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.#inFlight++;
        this.#buffered += bytes;
        // Counted down before the caller resumes: what it sees next is the pool after this task.
        task()
          .finally(() => {
            this.#inFlight--;
            this.#buffered -= bytes;
            this.#completedInWindow++;
            this.#adapt();
            this.#drain();
          })
          .then(resolve, reject);
      };
      (priority === 'high' ? this.#high : this.#normal).push({ start, bytes });
      this.#drain();
    });
  }

  /** Resolves once the queue is short enough that feeding more work would not just pile it up. */
  async ready(): Promise<void> {
    while (this.queued >= this.#limit) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Called by the retry layer when the service throttled us or dropped a connection. */
  noteThrottle(): void {
    this.#throttledInWindow = true;
    this.#adapt();
  }

  #drain(): void {
    while (this.#inFlight < this.#limit) {
      const queue = this.#high.length > 0 ? this.#high : this.#normal;
      const next = queue[0];
      if (!next) return;
      // Over the memory cap: wait for running tasks to free theirs (one task alone always runs).
      if (this.#inFlight > 0 && this.#buffered + next.bytes > this.#maxBuffered) break;
      queue.shift();
      next.start();
    }
    if (this.queued > 0) this.#saturatedInWindow = true;
  }

  #adapt(): void {
    if (!this.#adaptive) return;
    const now = Date.now();
    if (this.#throttledInWindow) {
      this.#limit = Math.max(this.#min, Math.floor(this.#limit * 0.75));
      this.#resetWindow(now);
      this.#lastStepThroughput = 0;
      return;
    }
    const elapsed = now - this.#windowStart;
    if (elapsed < this.#windowMs) return;
    const throughput = (this.#completedInWindow * 1000) / elapsed;
    if (this.#limitBeforeStep && throughput < this.#lastStepThroughput * 0.85) {
      this.#limit = this.#limitBeforeStep; // the last step up made things worse
      this.#limitBeforeStep = 0;
    } else if (this.#saturatedInWindow && throughput > this.#lastStepThroughput * 1.05 && this.#limit < this.#max) {
      this.#limitBeforeStep = this.#limit;
      this.#limit = Math.min(this.#max, Math.ceil(this.#limit * 1.25));
      this.#lastStepThroughput = throughput;
    }
    this.#resetWindow(now);
  }

  #resetWindow(now: number): void {
    this.#windowStart = now;
    this.#completedInWindow = 0;
    this.#saturatedInWindow = false;
    this.#throttledInWindow = false;
  }
}

/** The pool a job runs on: a fixed `--concurrency N`, or adaptive from 64 (N = 0); bodies in memory capped. */
export function poolFor(concurrency: number, maxBufferedBytes = DEFAULT_MAX_BUFFERED_BYTES): Pool {
  const limits = concurrency > 0 ? { initial: concurrency, adaptive: false } : { initial: 64, max: 512 };
  return new Pool({ ...limits, maxBufferedBytes });
}

/**
 * Runs `work` on each item as it arrives, at most `limit` at once; resolves when all are done. Once
 * `stop` turns true no more items are taken; the first failure stops it too and
 * is thrown once the work in flight is over.
 */
export async function eachAtOnce<T>(items: AsyncIterable<T> | Iterable<T>, limit: number, stop: () => boolean, work: (item: T) => Promise<void>): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  for await (const item of items) {
    while (inFlight.size >= limit) await Promise.race(inFlight);
    if (failure || stop()) break;
    const task: Promise<void> = work(item)
      .catch((err) => {
        failure ??= err;
      })
      .finally(() => inFlight.delete(task));
    inFlight.add(task);
  }
  await Promise.all(inFlight);
  if (failure) throw failure;
}
