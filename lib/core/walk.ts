import type { Stats } from 'node:fs';
import { lstat, opendir, stat } from 'node:fs/promises';
import path from 'node:path';
import { compareKeys } from './keys.ts';

/** A regular file to transfer; `key` is its path below the root, '/'-separated. */
export interface WalkedFile {
  readonly kind: 'file';
  readonly key: string;
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly mode: number;
}

/** Something the walk passed over, and why: reported, never silently dropped. */
export interface WalkSkip {
  readonly kind: 'skip';
  readonly path: string;
  readonly reason: 'symlink' | 'special' | 'invalid-name' | 'key-too-long' | 'unreadable' | 'loop';
  readonly message: string;
}

export interface WalkOptions {
  /** Follow symbolic links (loops are detected and skipped). @default false */
  readonly followSymlinks?: boolean;
  /** Concurrent lstat calls per directory. @default 32 */
  readonly statConcurrency?: number;
}

const MAX_KEY_BYTES = 1024;

/**
 * Walks a tree depth-first, yielding files in S3's key order (UTF-8 bytes of the '/'-joined path),
 * so a walk and a listing can be merged. Memory holds the entries of the directories on the current
 * path, never the tree. Names that are not valid UTF-8, keys over S3's 1,024 bytes, symlinks (unless
 * followed), fifos, sockets and devices are yielded as skips with their reason.
 */
export async function* walkTree(root: string, options: WalkOptions = {}, keyPrefix = ''): AsyncGenerator<WalkedFile | WalkSkip> {
  const seen = new Set<string>();
  const rootStat = await stat(root);
  seen.add(`${rootStat.dev}:${rootStat.ino}`);
  yield* walkDir(root, keyPrefix, options, seen);
}

async function* walkDir(dir: string, keyBase: string, options: WalkOptions, seen: Set<string>): AsyncGenerator<WalkedFile | WalkSkip> {
  const names: { key: string; path: string }[] = [];
  let handle: Awaited<ReturnType<typeof opendir>>;
  try {
    handle = await opendir(dir, { encoding: 'buffer' } as never);
  } catch (err) {
    yield { kind: 'skip', path: dir, reason: 'unreadable', message: (err as Error).message };
    return;
  }
  for await (const entry of handle) {
    const raw = entry.name as unknown as Buffer;
    const name = raw.toString('utf8');
    const full = path.join(dir, name);
    if (!Buffer.from(name, 'utf8').equals(raw)) {
      yield { kind: 'skip', path: path.join(dir, raw.toString('latin1')), reason: 'invalid-name', message: 'the name is not valid UTF-8' };
      continue;
    }
    names.push({ key: keyBase + name, path: full });
  }
  // A directory's entries sort as '<name>/...', a file's as '<name>': sort by the key each yields.
  const stats = await statAll(names, options);
  const items = names.map((n, i) => ({ ...n, stat: stats[i] }));
  items.sort((a, b) => compareKeys(sortKey(a), sortKey(b)));
  for (const item of items) {
    const s = item.stat;
    if (s instanceof Error) {
      yield { kind: 'skip', path: item.path, reason: 'unreadable', message: s.message };
      continue;
    }
    if (s === undefined) continue;
    if (s.isSymbolicLink()) {
      yield { kind: 'skip', path: item.path, reason: 'symlink', message: 'symbolic link (follow with --follow-symlinks)' };
    } else if (s.isDirectory()) {
      const id = `${s.dev}:${s.ino}`;
      if (seen.has(id)) {
        yield { kind: 'skip', path: item.path, reason: 'loop', message: 'directory already walked (a link loop)' };
        continue;
      }
      seen.add(id);
      yield* walkDir(item.path, `${item.key}/`, options, seen);
    } else if (s.isFile()) {
      if (Buffer.byteLength(item.key) > MAX_KEY_BYTES) {
        yield { kind: 'skip', path: item.path, reason: 'key-too-long', message: `the key would be ${Buffer.byteLength(item.key)} bytes; S3 allows 1,024` };
        continue;
      }
      yield { kind: 'file', key: item.key, path: item.path, size: s.size, mtimeMs: s.mtimeMs, mode: s.mode & 0o7777 };
    } else {
      yield { kind: 'skip', path: item.path, reason: 'special', message: 'not a regular file (fifo, socket or device)' };
    }
  }
}

type StatResult = Stats | Error | undefined;

function sortKey(item: { key: string; stat: StatResult }): string {
  const s = item.stat;
  return s && !(s instanceof Error) && s.isDirectory() ? `${item.key}/` : item.key;
}

async function statAll(names: { path: string }[], options: WalkOptions): Promise<StatResult[]> {
  const out: StatResult[] = new Array(names.length);
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const i = next++;
      const p = (names[i] as { path: string }).path;
      try {
        let s = await lstat(p);
        if (s.isSymbolicLink() && options.followSymlinks) s = await stat(p);
        out[i] = s;
      } catch (err) {
        // Vanished between readdir and lstat: nothing to transfer, nothing to report.
        out[i] = (err as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : (err as Error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.statConcurrency ?? 32, names.length) }, worker));
  return out;
}
