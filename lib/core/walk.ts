import type { Stats } from 'node:fs';
import { lstat, opendir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Entry as SideEntry } from './diff.ts';
import { compareKeys } from './keys.ts';

/** A regular file to transfer; `key` is its path below the root, '/'-separated. */
export interface WalkedFile {
  readonly kind: 'file';
  readonly key: string;
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  /** When the file was last written or renamed into place (restoring an mtime does not set this back). */
  readonly ctimeMs: number;
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

/** Sibling directories listed ahead of the walk, so a file system's latency overlaps (CephFS, NFS). */
const LOOKAHEAD = 16;

/**
 * Walks a tree depth-first, yielding files in S3's key order (UTF-8 bytes of the '/'-joined path),
 * so a walk and a listing can be merged. While a directory is walked, the next few sibling
 * directories are already being listed (and their entries stat'ed, 32 at a time), so the walk is
 * not one metadata round trip after another. Memory holds the entries of the directories on the
 * current path and of those listed ahead, never the tree. Names that are not valid UTF-8, keys over
 * S3's 1,024 bytes, symlinks (unless followed), fifos, sockets and devices are yielded as skips
 * with their reason.
 */
export async function* walkTree(root: string, options: WalkOptions = {}, keyPrefix = ''): AsyncGenerator<WalkedFile | WalkSkip> {
  const seen = new Set<string>();
  const rootStat = await stat(root);
  seen.add(`${rootStat.dev}:${rootStat.ino}`);
  yield* walkListed(listDir(root, keyPrefix, options), options, seen);
}

interface Entry {
  key: string;
  path: string;
  stat: StatResult;
}

/** A directory's entries, stat'ed and sorted by the key each yields, and what could not be listed. */
interface Listing {
  entries: Entry[];
  skips: WalkSkip[];
}

async function listDir(dir: string, keyBase: string, options: WalkOptions): Promise<Listing> {
  const names: { key: string; path: string }[] = [];
  const skips: WalkSkip[] = [];
  let handle: Awaited<ReturnType<typeof opendir>>;
  try {
    handle = await opendir(dir, { encoding: 'buffer' } as never);
  } catch (err) {
    return { entries: [], skips: [{ kind: 'skip', path: dir, reason: 'unreadable', message: (err as Error).message }] };
  }
  try {
    for await (const entry of handle) {
      const raw = entry.name as unknown as Buffer;
      const name = raw.toString('utf8');
      if (!Buffer.from(name, 'utf8').equals(raw)) {
        skips.push({ kind: 'skip', path: path.join(dir, raw.toString('latin1')), reason: 'invalid-name', message: 'the name is not valid UTF-8' });
        continue;
      }
      names.push({ key: keyBase + name, path: path.join(dir, name) });
    }
  } catch (err) {
    // Read part-way: the directory is reported, and what was read is not passed off as all of it.
    return { entries: [], skips: [...skips, { kind: 'skip', path: dir, reason: 'unreadable', message: (err as Error).message }] };
  }
  // A directory's entries sort as '<name>/...', a file's as '<name>': sort by the key each yields.
  const stats = await statAll(names, options);
  const entries = names.map((n, i) => ({ ...n, stat: stats[i] }));
  entries.sort((a, b) => compareKeys(sortKey(a), sortKey(b)));
  return { entries, skips };
}

async function* walkListed(listing: Promise<Listing>, options: WalkOptions, seen: Set<string>): AsyncGenerator<WalkedFile | WalkSkip> {
  const { entries, skips } = await listing;
  yield* skips;
  // Subdirectories to walk, in order; each is listed up to LOOKAHEAD directories ahead of the walk.
  const subdirs: { entry: Entry; listing?: Promise<Listing> }[] = [];
  const position = new Map<Entry, number>();
  for (const entry of entries) {
    const s = entry.stat;
    if (s && !(s instanceof Error) && !s.isSymbolicLink() && s.isDirectory()) {
      const id = `${s.dev}:${s.ino}`;
      if (seen.has(id)) continue; // a loop: reported below, when its turn comes
      seen.add(id);
      position.set(entry, subdirs.length);
      subdirs.push({ entry });
    }
  }
  const listAhead = (from: number) => {
    for (let i = from; i < Math.min(subdirs.length, from + LOOKAHEAD); i++) {
      const d = subdirs[i] as (typeof subdirs)[number];
      // A listing started ahead must not reject unobserved: listDir reports its errors as skips.
      d.listing ??= listDir(d.entry.path, `${d.entry.key}/`, options);
    }
  };
  for (const entry of entries) {
    const s = entry.stat;
    if (s instanceof Error) {
      yield { kind: 'skip', path: entry.path, reason: 'unreadable', message: s.message };
      continue;
    }
    if (s === undefined) continue;
    if (s.isSymbolicLink()) {
      yield { kind: 'skip', path: entry.path, reason: 'symlink', message: 'symbolic link (follow with --follow-symlinks)' };
    } else if (s.isDirectory()) {
      const at = position.get(entry);
      if (at === undefined) {
        yield { kind: 'skip', path: entry.path, reason: 'loop', message: 'directory already walked (a link loop)' };
        continue;
      }
      listAhead(at);
      yield* walkListed((subdirs[at] as { listing: Promise<Listing> }).listing, options, seen);
    } else if (s.isFile()) {
      if (Buffer.byteLength(entry.key) > MAX_KEY_BYTES) {
        yield { kind: 'skip', path: entry.path, reason: 'key-too-long', message: `the key would be ${Buffer.byteLength(entry.key)} bytes; S3 allows 1,024` };
        continue;
      }
      yield { kind: 'file', key: entry.key, path: entry.path, size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, mode: s.mode & 0o7777 };
    } else {
      yield { kind: 'skip', path: entry.path, reason: 'special', message: 'not a regular file (fifo, socket or device)' };
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

/**
 * The files under a directory (none if it is missing), in key order, each timed by its ctime: when it
 * was written there (a pull restores mtimes, which says nothing of when the copy was made).
 * What the walk passes over (symlinks, special files) is not a file to compare or delete.
 */
export async function* filesAt(root: string): AsyncGenerator<SideEntry> {
  const there = await stat(root).catch(() => undefined);
  if (!there?.isDirectory()) return;
  for await (const item of walkTree(root)) {
    if (item.kind === 'file') yield { key: item.key, size: item.size, time: new Date(item.ctimeMs) };
  }
}
