// Installs an epoch's ring archives into the Swift ring directory and records the
// installed epoch. Each `<name>.ring.gz` is replaced atomically (dot-prefixed temp in
// the ring dir, fsync, rename, one dir fsync), unchanged files are left alone, and the
// epoch is recorded in `<dataDir>/installed.json` only after every rename, so a crash
// mid-install is simply redone (and the hook rerun) at the next start.
import { createHash } from 'node:crypto'
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { blobCid, blobCidDigest } from '../protocol/map/blob-cid.js'
import { RING_NAME } from '../protocol/map/validate.js'
import { cleanTempFiles, fsyncDir, tempNameFor, writeFileAtomic } from './fs-atomic.js'
import { runHook, type HookResult } from './hook-runner.js'

export type InstallErrorCode = 'INSTALL_BAD_INPUT' | 'INSTALLED_CORRUPT'

export class InstallError extends Error {
  readonly code: InstallErrorCode
  constructor (code: InstallErrorCode, message: string) {
    super(message)
    this.name = 'InstallError'
    this.code = code
  }
}

export interface RingFile { name: string, bytes: Uint8Array }

export interface InstallResult {
  epoch: number
  /** Ring names whose file was replaced. */
  written: string[]
  /** Ring names whose file already held these bytes. */
  unchanged: string[]
}

export interface InstalledRecord {
  version: 1
  epoch: number
  /** mapHash of the installed map, when known. */
  mapHash?: string
  /** Ring name → CID of the installed archive. */
  rings: Record<string, string>
  /** Unix ms. */
  installedAt: number
  /**
   * Rings whose change the hook has not yet been told of: set before the hook runs,
   * cleared once it has finished. A crash in between leaves it set, and the next
   * start runs the hook again (resumeHook), so each epoch's hook runs at least once.
   */
  hookPending?: string[]
}

export const INSTALLED_FILE = 'installed.json'
const RING_SUFFIX = '.ring.gz'

/** Our temp files in a ring dir that may hold other people's files. */
function isRingTemp (name: string): boolean {
  return name.includes(`${RING_SUFFIX}.tmp-`)
}

/** Removes ring temp files a killed install left behind. Call at agent start (installRings calls it too). */
export async function cleanRingDir (ringDir: string): Promise<string[]> {
  return await cleanTempFiles(ringDir, new Set(), isRingTemp)
}

function sha256 (bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest()
}

async function currentHash (path: string): Promise<Buffer | undefined> {
  try {
    return sha256(await readFile(path))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

function checkInput (rings: readonly RingFile[], epoch: number): void {
  if (!Number.isSafeInteger(epoch) || epoch < 1) throw new InstallError('INSTALL_BAD_INPUT', `bad epoch ${epoch}`)
  const seen = new Set<string>()
  for (const r of rings) {
    if (typeof r.name !== 'string' || !RING_NAME.test(r.name)) throw new InstallError('INSTALL_BAD_INPUT', `bad ring name ${JSON.stringify(r.name)}`)
    if (seen.has(r.name)) throw new InstallError('INSTALL_BAD_INPUT', `ring ${r.name} listed twice`)
    if (!(r.bytes instanceof Uint8Array)) throw new InstallError('INSTALL_BAD_INPUT', `ring ${r.name} has no bytes`)
    seen.add(r.name)
  }
}

/**
 * Writes every changed `<name>.ring.gz`. All temp files are written and fsynced first
 * and renamed together, which keeps the window where old and new rings mix short;
 * each file on its own is always whole.
 */
export async function installRings (ringDir: string, rings: readonly RingFile[], epoch: number): Promise<InstallResult> {
  checkInput(rings, epoch)
  await mkdir(ringDir, { recursive: true })
  await cleanRingDir(ringDir)
  const written: string[] = []
  const unchanged: string[] = []
  const staged: Array<{ temp: string, final: string, name: string }> = []
  try {
    for (const ring of rings) {
      const final = join(ringDir, ring.name + RING_SUFFIX)
      const before = await currentHash(final)
      if (before?.equals(sha256(ring.bytes)) === true) { unchanged.push(ring.name); continue }
      const temp = join(ringDir, tempNameFor(ring.name + RING_SUFFIX))
      staged.push({ temp, final, name: ring.name })
      const fh = await open(temp, 'wx', 0o644)
      try {
        await fh.writeFile(ring.bytes)
        await fh.sync()
      } finally {
        await fh.close()
      }
    }
    while (staged.length > 0) {
      const s = staged[0]
      await rename(s.temp, s.final)
      staged.shift()
      written.push(s.name)
    }
  } finally {
    for (const s of staged) await unlink(s.temp).catch(() => {})
  }
  if (written.length > 0) await fsyncDir(ringDir)
  return { epoch, written, unchanged }
}

/** The installed record, or undefined before the first install. Throws INSTALLED_CORRUPT on a damaged file. */
export async function readInstalled (dataDir: string): Promise<InstalledRecord | undefined> {
  const path = join(dataDir, INSTALLED_FILE)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  const bad = (why: string): never => { throw new InstallError('INSTALLED_CORRUPT', `${path}: ${why}; delete it to reinstall the current epoch`) }
  let v: unknown
  try { v = JSON.parse(text) } catch { bad('not valid JSON') }
  const r = v as Partial<InstalledRecord> | null
  if (typeof r !== 'object' || r === null || r.version !== 1) bad('not a version 1 record')
  const rec = r as InstalledRecord
  if (!Number.isSafeInteger(rec.epoch) || rec.epoch < 1) bad('bad epoch')
  if (!Number.isSafeInteger(rec.installedAt) || rec.installedAt < 0) bad('bad installedAt')
  if (rec.mapHash !== undefined && blobCidDigest(rec.mapHash) === undefined) bad('bad mapHash')
  if (typeof rec.rings !== 'object' || rec.rings === null) bad('bad rings')
  for (const [name, cid] of Object.entries(rec.rings)) {
    if (!RING_NAME.test(name) || blobCidDigest(cid) === undefined) bad(`bad ring entry ${name}`)
  }
  if (rec.hookPending !== undefined && (!Array.isArray(rec.hookPending) || !rec.hookPending.every(n => typeof n === 'string' && RING_NAME.test(n)))) bad('bad hookPending')
  return {
    version: 1,
    epoch: rec.epoch,
    ...(rec.mapHash !== undefined ? { mapHash: rec.mapHash } : {}),
    rings: { ...rec.rings },
    installedAt: rec.installedAt,
    ...(rec.hookPending !== undefined ? { hookPending: [...rec.hookPending] } : {})
  }
}

export async function writeInstalled (dataDir: string, record: InstalledRecord): Promise<void> {
  await writeFileAtomic(join(dataDir, INSTALLED_FILE), JSON.stringify(record, null, 2) + '\n', { mode: 0o644 })
}

export interface InstallEpochOptions {
  dataDir: string
  ringDir: string
  epoch: number
  mapHash?: string
  rings: readonly RingFile[]
  /** The operator's on-change command; run when any file changed or the epoch is new. */
  hook?: { cmd: string, timeoutMs: number }
  /** Unix ms, for the record. */
  now: number
}

export interface InstallEpochResult {
  install: InstallResult
  record: InstalledRecord
  /** Present when the hook ran. */
  hook?: HookResult
}

/**
 * Installs the rings, records the epoch durably, then runs the hook with
 * RINGLEADER_EPOCH, RINGLEADER_RING_DIR, RINGLEADER_RINGS (all names) and
 * RINGLEADER_CHANGED (names whose file changed). The hook runs at least once per
 * epoch: a crash before the record is written repeats the install and the hook,
 * and a crash while the hook runs leaves `hookPending` for resumeHook at the next start.
 */
export async function installEpoch (opts: InstallEpochOptions): Promise<InstallEpochResult> {
  const previous = await readInstalled(opts.dataDir).catch(() => undefined)
  const install = await installRings(opts.ringDir, opts.rings, opts.epoch)
  const runsHook = opts.hook !== undefined && (install.written.length > 0 || previous?.epoch !== opts.epoch)
  // A hook still owed for the previous epoch is folded into this run.
  const changed = [...new Set([...(previous?.hookPending ?? []), ...install.written])].filter(n => opts.rings.some(r => r.name === n))
  const record: InstalledRecord = {
    version: 1,
    epoch: opts.epoch,
    ...(opts.mapHash !== undefined ? { mapHash: opts.mapHash } : {}),
    rings: Object.fromEntries(opts.rings.map(r => [r.name, blobCid(r.bytes)])),
    installedAt: opts.now,
    ...(runsHook ? { hookPending: changed } : {})
  }
  await writeInstalled(opts.dataDir, record)
  const result: InstallEpochResult = { install, record }
  if (runsHook && opts.hook !== undefined) {
    result.hook = await runHookFor(opts.hook, record, opts.ringDir, changed)
    const { hookPending: _done, ...rest } = record
    result.record = rest
    await writeInstalled(opts.dataDir, rest)
  }
  return result
}

function runHookFor (hook: { cmd: string, timeoutMs: number }, record: InstalledRecord, ringDir: string, changed: readonly string[]): Promise<HookResult> {
  return runHook(hook.cmd, {
    RINGLEADER_EPOCH: String(record.epoch),
    RINGLEADER_RING_DIR: ringDir,
    RINGLEADER_RINGS: Object.keys(record.rings).join(','),
    RINGLEADER_CHANGED: changed.join(',')
  }, hook.timeoutMs)
}

/**
 * At start: if the last install's hook never finished (a crash or kill while it ran),
 * runs it again for the installed epoch. Returns its result, or undefined when none was owed.
 */
export async function resumeHook (opts: { dataDir: string, ringDir: string, hook?: { cmd: string, timeoutMs: number } }): Promise<HookResult | undefined> {
  const record = await readInstalled(opts.dataDir)
  if (record?.hookPending === undefined) return undefined
  const { hookPending, ...rest } = record
  const result = opts.hook !== undefined ? await runHookFor(opts.hook, record, opts.ringDir, hookPending) : undefined
  await writeInstalled(opts.dataDir, rest)
  return result
}
