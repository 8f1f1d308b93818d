// The local engine's Distributed Map adapter against what AWS documents for ItemReader,
// ItemSelector, ItemBatcher, MaxConcurrency, ToleratedFailure* and ResultWriter, with every other
// state (Retry, Catch, Choice, ResultPath) run by the interpreter.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { LocalEngine, type LocalFunction } from '../lib/local/engine.ts';
import type { Json } from '../lib/local/jsonpath.ts';
import { tempDir } from './helpers.ts';

type Objects = Map<string, string>;

async function run(mapFields: Record<string, Json>, input: Json, work: LocalFunction, objects: Objects = new Map()) {
  const definition = {
    StartAt: 'Fan',
    States: {
      Fan: {
        Type: 'Map',
        ...mapFields,
        ItemProcessor: {
          ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
          StartAt: 'Work',
          States: {
            Work: {
              Type: 'Task',
              Resource: '${WorkFunctionArn}',
              Retry: [{ ErrorEquals: ['TransientError'], IntervalSeconds: 0, MaxAttempts: 2 }],
              End: true,
            },
          },
        },
        ResultPath: '$.fanned',
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.mapError', Next: 'Caught' }],
        End: true,
      },
      Caught: { Type: 'Pass', End: true },
    },
  };
  const file = path.join(await tempDir(), 'def.asl.json');
  await writeFile(file, JSON.stringify(definition));
  const engine = new LocalEngine({
    functions: { WorkFunctionArn: work },
    readObject: async (bucket, key) => {
      const text = objects.get(`${bucket}/${key}`);
      if (text === undefined) throw new Error(`no ${bucket}/${key}`);
      return text;
    },
    writeObject: async (bucket, key, body) => {
      objects.set(`${bucket}/${key}`, body);
    },
  });
  return (await engine.run(file, input)) as Record<string, Json>;
}

const echo: LocalFunction = async (input) => input;

describe('local Distributed Map', () => {
  it('reads a JSON array from the store and selects items with $ and $$.Map.Item', async () => {
    const objects: Objects = new Map([['jobs/idx.json', JSON.stringify([{ m: 'a' }, { m: 'b' }, { m: 'c' }])]]);
    const out = await run(
      {
        ItemReader: {
          Resource: 'arn:aws:states:::s3:getObject',
          ReaderConfig: { InputType: 'JSON' },
          Parameters: { 'Bucket.$': '$.where.Bucket', 'Key.$': '$.where.Key' },
        },
        ItemSelector: { 'job.$': '$.job', 'value.$': '$$.Map.Item.Value.m', 'index.$': '$$.Map.Item.Index', fixed: 1 },
      },
      { job: 'J', where: { Bucket: 'jobs', Key: 'idx.json' } },
      echo,
      objects,
    );
    assert.deepEqual(out.fanned, [
      { job: 'J', value: 'a', index: 0, fixed: 1 },
      { job: 'J', value: 'b', index: 1, fixed: 1 },
      { job: 'J', value: 'c', index: 2, fixed: 1 },
    ]);
    assert.equal(out.job, 'J', 'ResultPath keeps the rest of the input');
  });

  it('reads JSONL and batches items with BatchInput', async () => {
    const objects: Objects = new Map([['b/items.jsonl', '1\n2\n3\n4\n5\n']]);
    const out = await run(
      {
        ItemReader: { Resource: 'arn:aws:states:::s3:getObject', ReaderConfig: { InputType: 'JSONL' }, Parameters: { Bucket: 'b', Key: 'items.jsonl' } },
        ItemBatcher: { MaxItemsPerBatch: 2, BatchInput: { 'tag.$': '$.tag' } },
      },
      { tag: 'T' },
      echo,
      objects,
    );
    assert.deepEqual(out.fanned, [
      { Items: [1, 2], BatchInput: { tag: 'T' } },
      { Items: [3, 4], BatchInput: { tag: 'T' } },
      { Items: [5], BatchInput: { tag: 'T' } },
    ]);
  });

  it('runs at most MaxConcurrency children at once', async () => {
    let running = 0;
    let peak = 0;
    const out = await run({ ItemsPath: '$.items', MaxConcurrency: 3 }, { items: Array.from({ length: 12 }, (_, i) => i) }, async (x) => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, 10));
      running--;
      return x;
    });
    assert.equal(peak, 3);
    assert.deepEqual(out.fanned, Array.from({ length: 12 }, (_, i) => i));
  });

  it('retries inside a child execution', async () => {
    const seen = new Map<number, number>();
    const out = await run({ ItemsPath: '$.items' }, { items: [1, 2] }, async (x) => {
      const n = (seen.get(x as number) ?? 0) + 1;
      seen.set(x as number, n);
      if (n === 1) throw Object.assign(new Error('flaky'), { name: 'TransientError' });
      return (x as number) * 10;
    });
    assert.deepEqual(out.fanned, [10, 20]);
  });

  const failSome: LocalFunction = async (x) => {
    if ((x as number) % 10 < 3) throw Object.assign(new Error(`item ${x} broke`), { name: 'Boom' });
    return x;
  };
  const tenItems = { items: Array.from({ length: 10 }, (_, i) => i) };

  it('tolerates failures up to ToleratedFailurePercentage and writes results as ResultWriter does', async () => {
    const objects: Objects = new Map();
    const out = await run(
      {
        ItemsPath: '$.items',
        ToleratedFailurePercentage: 30,
        ResultWriter: { Resource: 'arn:aws:states:::s3:putObject', Parameters: { Bucket: 'res', Prefix: 'runs' } },
      },
      tenItems,
      failSome,
      objects,
    );
    const details = (out.fanned as { ResultWriterDetails: { Bucket: string; Key: string }; MapRunArn: string });
    assert.equal(details.ResultWriterDetails.Bucket, 'res');
    assert.match(details.ResultWriterDetails.Key, /^runs\/[^/]+\/manifest\.json$/);
    const manifest = JSON.parse(objects.get(`res/${details.ResultWriterDetails.Key}`) as string);
    assert.equal(manifest.MapRunArn, details.MapRunArn);
    const succeeded = JSON.parse(objects.get(`res/${manifest.ResultFiles.SUCCEEDED[0].Key}`) as string);
    const failed = JSON.parse(objects.get(`res/${manifest.ResultFiles.FAILED[0].Key}`) as string);
    assert.deepEqual(succeeded.map((r: { Output: string }) => JSON.parse(r.Output)), [3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(failed.map((r: { Error: string }) => r.Error), ['Boom', 'Boom', 'Boom']);
    assert.equal(out.mapError, undefined);
  });

  it('fails with States.ExceedToleratedFailureThreshold above the percentage or the count, for Catch', async () => {
    const byPercent = await run({ ItemsPath: '$.items', ToleratedFailurePercentage: 20 }, tenItems, failSome);
    assert.equal((byPercent.mapError as { Error: string }).Error, 'States.ExceedToleratedFailureThreshold');
    const byCount = await run({ ItemsPath: '$.items', ToleratedFailureCount: 2 }, tenItems, failSome);
    assert.equal((byCount.mapError as { Error: string }).Error, 'States.ExceedToleratedFailureThreshold');
    const tolerated = await run({ ItemsPath: '$.items', ToleratedFailureCount: 3 }, tenItems, failSome);
    assert.equal(tolerated.mapError, undefined);
    const none = await run({ ItemsPath: '$.items' }, { items: [0] }, failSome);
    assert.equal((none.mapError as { Error: string }).Error, 'States.ExceedToleratedFailureThreshold', 'no tolerance by default');
  });
});
