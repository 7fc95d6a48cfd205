// Exclusive lock on a data directory, without native addons.
//
// Node has no flock(2), so the lock is a file created with O_CREAT|O_EXCL (atomic
// on local file systems) that records who holds it: pid, the kernel boot id and
// the process start time from /proc/<pid>/stat. A lock is stale when its pid is
// dead (process.kill(pid, 0) fails with ESRCH), when the machine has rebooted
// since (boot id differs) or when the pid now belongs to a different process
// (start time differs) — the last two matter in containers, where the agent is
// often pid 1 after every restart. Off Linux only the pid check applies.
//
// A stale lock is removed only if its content is unchanged since we judged it,
// and the new lock is again created with O_EXCL, so two agents racing for a stale
// lock cannot both win. The daemon adds a second guard: before it binds the status
// socket it checks that no live agent answers on it (see socket/server.ts).
import { open, readFile, stat, unlink } from 'node:fs/promises'
import { readFileSync } from 'node:fs'

export class LockHeldError extends Error {
  readonly code = 'ERR_LOCKED'
  constructor (readonly lockPath: string, readonly holderPid: number | undefined, detail: string) {
    super(detail)
    this.name = 'LockHeldError'
  }
}

export interface LockOwner {
  pid: number
  boot: string | null
  start: string | null
  since: string
}

export interface Lock {
  readonly path: string
  readonly owner: LockOwner
  /** Removes the lock file if it is still ours. Safe to call twice. */
  release: () => Promise<void>
}

// An unreadable or half-written lock this young may belong to an agent that is
// still writing it.
const FRESH_LOCK_MS = 5_000

function readBootId (): string | null {
  try { return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() } catch { return null }
}

/** Field 22 of /proc/<pid>/stat: start time in clock ticks since boot. */
export function readProcessStart (pid: number): string | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return rest[19] ?? null
  } catch {
    return null
  }
}

export function isProcessAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function parseOwner (text: string): LockOwner | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockOwner>
    if (typeof v.pid !== 'number' || !Number.isInteger(v.pid) || v.pid <= 0) return undefined
    return { pid: v.pid, boot: v.boot ?? null, start: v.start ?? null, since: String(v.since ?? '') }
  } catch {
    return undefined
  }
}

/** Why the recorded owner no longer holds the lock, or undefined if it still does. */
function staleReason (owner: LockOwner): string | undefined {
  if (!isProcessAlive(owner.pid)) return `pid ${owner.pid} is not running`
  const boot = readBootId()
  if (owner.boot !== null && boot !== null && owner.boot !== boot) return 'the machine has rebooted since'
  const start = readProcessStart(owner.pid)
  if (owner.start !== null && start !== null && owner.start !== start) return `pid ${owner.pid} now belongs to another process`
  return undefined
}

export interface AcquireResult { lock: Lock, replacedStale?: string }

export async function acquireLock (path: string): Promise<AcquireResult> {
  const owner: LockOwner = {
    pid: process.pid,
    boot: readBootId(),
    start: readProcessStart(process.pid),
    since: new Date().toISOString()
  }
  const content = JSON.stringify(owner) + '\n'
  let replacedStale: string | undefined

  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600)
      try {
        await handle.writeFile(content)
        await handle.sync()
      } finally {
        await handle.close()
      }
      const lock: Lock = {
        path,
        owner,
        release: async () => {
          try {
            if (await readFile(path, 'utf8') === content) await unlink(path)
          } catch { /* already gone */ }
        }
      }
      return { lock, replacedStale }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }

    let existing: string
    let age: number
    try {
      existing = await readFile(path, 'utf8')
      age = Date.now() - (await stat(path)).mtimeMs
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue // released meanwhile: retry
      throw err
    }
    const holder = parseOwner(existing)
    let reason: string | undefined
    if (holder === undefined) {
      if (age < FRESH_LOCK_MS) throw new LockHeldError(path, undefined, `lock ${path} is being taken by another agent right now`)
      reason = 'lock file is unreadable'
    } else {
      reason = staleReason(holder)
      if (reason === undefined) {
        throw new LockHeldError(path, holder.pid, `another agent (pid ${holder.pid}, since ${holder.since}) holds ${path}`)
      }
    }
    // Remove the stale lock only if nobody replaced it since we read it.
    try {
      if (await readFile(path, 'utf8') === existing) await unlink(path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    replacedStale = reason
  }
  throw new LockHeldError(path, undefined, `could not take ${path}: other agents keep racing for it`)
}
