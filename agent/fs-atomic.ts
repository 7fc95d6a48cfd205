// Crash-safe file replacement: write a dot-prefixed temp file in the target's own
// directory, fsync it, rename it over the target, then fsync the directory so the
// rename itself survives power loss. A reader sees the old file or the new one, never
// a partial one; a kill -9 leaves at most a temp file, which cleanTempFiles removes.
import { randomBytes } from 'node:crypto'
import { open, readdir, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/** Every temp name contains this marker, and no final name may. */
export const TEMP_MARKER = '.tmp-'

/** `.<final name>.tmp-<pid>-<random>`: hidden, unique per writer, and never a valid final name. */
export function tempNameFor (finalName: string): string {
  return `.${finalName}${TEMP_MARKER}${process.pid}-${randomBytes(6).toString('hex')}`
}

export function isTempName (name: string): boolean {
  return name.startsWith('.') && name.includes(TEMP_MARKER)
}

/** fsync a directory so that renames and unlinks in it are durable. */
export async function fsyncDir (dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

export interface AtomicWriteOptions {
  mode?: number
  /** Skip the directory fsync (the caller will do one for a batch). */
  noDirSync?: boolean
}

/** Atomically replaces `path` with `data`. On failure the target is untouched and the temp file removed. */
export async function writeFileAtomic (path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): Promise<void> {
  const dir = dirname(path)
  const temp = join(dir, tempNameFor(basename(path)))
  let renamed = false
  try {
    const fh = await open(temp, 'wx', opts.mode ?? 0o644)
    try {
      await fh.writeFile(data)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(temp, path)
    renamed = true
    if (opts.noDirSync !== true) await fsyncDir(dir)
  } finally {
    if (!renamed) await unlink(temp).catch(() => {})
  }
}

/**
 * Removes temp files left in `dir` by a crashed writer. `active` names temp files a
 * live writer in this process still owns; `match` narrows which temp names are ours
 * (a shared directory such as /etc/swift). Returns the names removed.
 */
export async function cleanTempFiles (dir: string, active: ReadonlySet<string> = new Set(), match: (name: string) => boolean = isTempName): Promise<string[]> {
  const removed: string[] = []
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return removed
    throw err
  }
  for (const name of names) {
    if (!isTempName(name) || !match(name) || active.has(name)) continue
    try {
      await unlink(join(dir, name))
      removed.push(name)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }
  if (removed.length > 0) await fsyncDir(dir)
  return removed
}
