import type { ErrorInfo } from './errors.ts';

/** What the data plane tells whoever watches a job (the CLI's progress line; metrics in the cloud). */
export interface ProgressSink {
  /** Objects and bytes planned so far (grows while the planner lists). */
  planned(objects: number, bytes: number): void;
  bytes(n: number): void;
  object(outcome: 'copied' | 'skipped' | 'failed'): void;
  retry(info: ErrorInfo): void;
}

export const noProgress: ProgressSink = Object.freeze({
  planned() {},
  bytes() {},
  object() {},
  retry() {},
});
