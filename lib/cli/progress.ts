import type { ErrorInfo } from '../core/errors.ts';
import type { ProgressSink } from '../core/progress.ts';
import type { JobStatus } from '../core/status.ts';
import { formatBytes } from '../core/size.ts';

/**
 * The live progress line on stderr: rewritten in place on a terminal, a plain line every
 * `plainEveryMs` otherwise, nothing at all when quiet. stdout is left to --json.
 */
export class ProgressLine implements ProgressSink {
  plannedObjects = 0;
  plannedBytes = 0;
  planningDone = false;
  copied = 0;
  failed = 0;
  skipped = 0;
  bytesDone = 0;
  retries = 0;
  readonly #started = Date.now();
  readonly #out: NodeJS.WriteStream;
  readonly #tty: boolean;
  readonly #timer: NodeJS.Timeout | undefined;

  constructor(options: { out?: NodeJS.WriteStream; quiet?: boolean; plainEveryMs?: number } = {}) {
    this.#out = options.out ?? process.stderr;
    this.#tty = Boolean(this.#out.isTTY);
    if (!options.quiet) {
      this.#timer = setInterval(() => this.render(), this.#tty ? 250 : (options.plainEveryMs ?? Number(process.env.FERRY_PROGRESS_MS ?? 10_000)));
      this.#timer.unref();
    }
  }

  planned(objects: number, bytes: number): void {
    this.plannedObjects = objects;
    this.plannedBytes = bytes;
  }

  bytes(n: number): void {
    this.bytesDone += n;
  }

  object(outcome: 'copied' | 'skipped' | 'failed'): void {
    this[outcome]++;
  }

  retry(_info: ErrorInfo): void {
    this.retries++;
  }

  /** Shows where a job stands by its job store (a fleet job, a cloud job), instead of counting itself. */
  show(status: JobStatus): void {
    this.planned(status.planned.objects, status.planned.bytes);
    this.planningDone = status.planningDone;
    this.copied = status.objects.copied;
    this.skipped = status.objects.skipped;
    this.failed = status.objects.failed;
    this.bytesDone = status.bytesCopied;
    this.retries = status.retries;
  }

  line(): string {
    const seconds = Math.max(0.001, (Date.now() - this.#started) / 1000);
    const done = this.copied + this.failed + this.skipped;
    const total = `${this.plannedObjects.toLocaleString('en-US')}${this.planningDone ? '' : '+'}`;
    const rate = done / seconds;
    const byteRate = this.bytesDone / seconds;
    const left = this.plannedBytes - this.bytesDone;
    const eta = this.planningDone && byteRate > 0 && left > 0 ? ` ETA ${clock(left / byteRate)}` : '';
    return (
      `${done.toLocaleString('en-US')}/${total} objects, ${formatBytes(this.bytesDone)}/${formatBytes(this.plannedBytes)}` +
      `, ${rate.toFixed(0)} obj/s, ${(byteRate / 1e6).toFixed(1)} MB/s${eta}, ${this.retries} retries, ${this.failed} failed`
    );
  }

  render(): void {
    if (this.#tty) this.#out.write(`\r\x1b[2K${this.line()}`);
    else this.#out.write(`${this.line()}\n`);
  }

  stop(): void {
    if (this.#timer) {
      clearInterval(this.#timer);
      this.render();
      if (this.#tty) this.#out.write('\n');
    }
  }
}

function clock(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const two = (n: number) => String(n).padStart(2, '0');
  return h ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}
