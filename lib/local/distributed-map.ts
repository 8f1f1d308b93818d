// Runs a Distributed Map state in-process, as AWS documents it, because aws-local-stepfunctions
// does not: ItemReader (JSON or JSONL from the job store), ItemSelector with $$.Map.Item,
// ItemBatcher, MaxConcurrency, ToleratedFailurePercentage/Count and ResultWriter. Each child runs
// through the interpreter (`runChild`). The enclosing engine turns the Map into a Task, so
// InputPath, ResultSelector, ResultPath, OutputPath, Retry and Catch stay the interpreter's.
import { randomUUID } from 'node:crypto';
import { applyTemplate, type Json, readPath } from './jsonpath.ts';

export interface DistributedMapState {
  ItemReader?: { Resource: string; ReaderConfig?: { InputType?: string; MaxItems?: number }; Parameters?: Json };
  ItemsPath?: string;
  ItemSelector?: Json;
  ItemBatcher?: { MaxItemsPerBatch?: number; BatchInput?: Json };
  MaxConcurrency?: number;
  ToleratedFailurePercentage?: number;
  ToleratedFailureCount?: number;
  ResultWriter?: { Resource: string; Parameters?: Json };
  ItemProcessor: { ProcessorConfig?: { Mode?: string }; StartAt: string; States: Record<string, Json> };
}

export interface DistributedMapDeps {
  /** s3:getObject for the ItemReader. */
  readObject(bucket: string, key: string): Promise<string>;
  /** s3:putObject for the ResultWriter. */
  writeObject(bucket: string, key: string, body: string): Promise<void>;
  /** Runs one child execution of the ItemProcessor; rejects when the child fails. */
  runChild(input: Json): Promise<Json>;
  /** Identifies this map run in ResultWriter output. */
  mapRunArn?: string;
}

interface ChildOutcome {
  input: Json;
  status: 'SUCCEEDED' | 'FAILED';
  output?: Json;
  error?: string;
  cause?: string;
}

export class StatesError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

export async function runDistributedMap(state: DistributedMapState, input: Json, deps: DistributedMapDeps): Promise<Json> {
  const items = await readItems(state, input, deps);
  const childInputs = selectAndBatch(state, input, items);
  const limit = state.MaxConcurrency && state.MaxConcurrency > 0 ? state.MaxConcurrency : 10_000;
  const toleratedPercent = state.ToleratedFailurePercentage ?? 0;
  const toleratedCount = state.ToleratedFailureCount ?? 0;
  const outcomes: (ChildOutcome | undefined)[] = new Array(childInputs.length);
  let failed = 0;
  let next = 0;
  let exceeded = false;
  const exceeds = () =>
    failed > toleratedCount && (failed * 100) / Math.max(1, childInputs.length) > toleratedPercent;

  const worker = async () => {
    while (!exceeded && next < childInputs.length) {
      const i = next++;
      const childInput = childInputs[i] as Json;
      try {
        outcomes[i] = { input: childInput, status: 'SUCCEEDED', output: await deps.runChild(childInput) };
      } catch (err) {
        failed++;
        const e = err as Error;
        outcomes[i] = { input: childInput, status: 'FAILED', error: e.name, cause: e.message };
        if (exceeds()) exceeded = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, childInputs.length) }, worker));

  const mapRunArn = deps.mapRunArn ?? `arn:aws:states:local:000000000000:mapRun:ferry/${randomUUID()}`;
  const details = state.ResultWriter ? await writeResults(state, input, outcomes, mapRunArn, deps) : undefined;
  if (exceeded) {
    throw new StatesError('States.ExceedToleratedFailureThreshold', `${failed} of ${childInputs.length} items failed`);
  }
  if (details) return { MapRunArn: mapRunArn, ResultWriterDetails: details };
  return outcomes.map((o) => o?.output ?? null);
}

async function readItems(state: DistributedMapState, input: Json, deps: DistributedMapDeps): Promise<Json[]> {
  let items: Json;
  if (state.ItemReader) {
    if (state.ItemReader.Resource !== 'arn:aws:states:::s3:getObject') {
      throw new Error(`unsupported ItemReader resource ${state.ItemReader.Resource} in the local Distributed Map`);
    }
    const params = applyTemplate(state.ItemReader.Parameters ?? {}, input, {}) as { Bucket?: string; Key?: string };
    if (!params.Bucket || !params.Key) throw new StatesError('States.ItemReaderFailed', 'ItemReader needs Bucket and Key');
    const text = await deps.readObject(params.Bucket, params.Key);
    const type = state.ItemReader.ReaderConfig?.InputType ?? 'JSON';
    if (type === 'JSON') items = JSON.parse(text) as Json;
    else if (type === 'JSONL') items = text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Json);
    else throw new Error(`unsupported ItemReader InputType ${type} in the local Distributed Map`);
    const max = state.ItemReader.ReaderConfig?.MaxItems;
    if (Array.isArray(items) && max) items = items.slice(0, max);
  } else {
    items = readPath(state.ItemsPath ?? '$', input, {});
  }
  if (!Array.isArray(items)) throw new StatesError('States.ItemReaderFailed', 'the items are not a JSON array');
  return items;
}

function selectAndBatch(state: DistributedMapState, input: Json, items: Json[]): Json[] {
  const selected = items.map((value, index) =>
    state.ItemSelector === undefined ? value : applyTemplate(state.ItemSelector, input, { Map: { Item: { Index: index, Value: value } } }),
  );
  const size = state.ItemBatcher?.MaxItemsPerBatch;
  if (!state.ItemBatcher) return selected;
  const batchSize = size && size > 0 ? size : selected.length || 1;
  const batchInput = state.ItemBatcher.BatchInput === undefined ? undefined : applyTemplate(state.ItemBatcher.BatchInput, input, {});
  const batches: Json[] = [];
  for (let i = 0; i < selected.length; i += batchSize) {
    const batch: Record<string, Json> = { Items: selected.slice(i, i + batchSize) };
    if (batchInput !== undefined) batch.BatchInput = batchInput;
    batches.push(batch);
  }
  return batches;
}

// The files AWS writes: <Prefix>/<map run id>/manifest.json and one file per status.
async function writeResults(
  state: DistributedMapState,
  input: Json,
  outcomes: (ChildOutcome | undefined)[],
  mapRunArn: string,
  deps: DistributedMapDeps,
): Promise<{ Bucket: string; Key: string }> {
  const params = applyTemplate(state.ResultWriter?.Parameters ?? {}, input, {}) as { Bucket?: string; Prefix?: string };
  if (!params.Bucket) throw new StatesError('States.ResultWriterFailed', 'ResultWriter needs a Bucket');
  const runId = mapRunArn.slice(mapRunArn.lastIndexOf('/') + 1);
  const base = `${params.Prefix ? `${params.Prefix.replace(/\/$/, '')}/` : ''}${runId}`;
  const files: Record<string, { Key: string; Size: number }[]> = { FAILED: [], PENDING: [], SUCCEEDED: [] };
  for (const status of ['SUCCEEDED', 'FAILED', 'PENDING'] as const) {
    const rows = outcomes
      .map((o, i) => ({ o, i }))
      .filter(({ o }) => (o?.status ?? 'PENDING') === status)
      .map(({ o, i }) => ({
        Name: `item-${i}`,
        Status: status,
        Input: JSON.stringify(o?.input ?? null),
        ...(o?.output !== undefined && { Output: JSON.stringify(o.output) }),
        ...(o?.error !== undefined && { Error: o.error, Cause: o.cause }),
      }));
    if (rows.length === 0) continue;
    const key = `${base}/${status}_0.json`;
    const body = JSON.stringify(rows);
    await deps.writeObject(params.Bucket, key, body);
    (files[status] as { Key: string; Size: number }[]).push({ Key: key, Size: Buffer.byteLength(body) });
  }
  const manifestKey = `${base}/manifest.json`;
  await deps.writeObject(
    params.Bucket,
    manifestKey,
    JSON.stringify({ DestinationBucket: params.Bucket, MapRunArn: mapRunArn, ResultFiles: files }),
  );
  return { Bucket: params.Bucket, Key: manifestKey };
}
