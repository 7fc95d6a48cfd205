// The content-addressed blob store: `<dataDir>/blobs/<cid>`. A blob gets its final
// name only after its bytes were hashed and matched the name, and only by an atomic
// rename from a dot-prefixed temp file, so a reader (or a peer we serve) never sees
// a partial or wrong blob. Pins by epoch say which blobs gc must keep.
//
// Integrity at rest: open() hashes every blob (rings are a few MB; a few epochs
// hash in well under a second) and deletes any whose hash does not match its name;
// get() re-verifies what it returns. readRange() does not re-hash: the fetching
// peer verifies the whole blob anyway and falls back to another holder.
import { createHash } from 'node:crypto'
import { mkdir, open, readdir, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { blobCid, blobCidDigest } from '../protocol/map/blob-cid.js'
import { cleanTempFiles, fsyncDir, isTempName, tempNameFor, writeFileAtomic } from './fs-atomic.js'
import { BlobError, checkCid, hashFile, sameBytes } from './blob-common.js'
import { PartialBlob, type PartialHost } from './blob-partial.js'

export { BlobError, type BlobErrorCode } from './blob-common.js'
export { PartialBlob } from './blob-partial.js'

export interface BlobStoreOptions {
  /** Epochs whose blobs stay pinned (the K highest retained). Default 3. */
  keepEpochs?: number
  /** Largest blob accepted, in bytes (a bound against a hostile size claim). Default 1 GiB. */
  maxBlobBytes?: number
  /** Hash every blob at open and delete mismatches. Default true. */
  verifyOnOpen?: boolean
}

export interface OpenReport {
  blobs: number
  /** Temp files a crashed writer left behind, now removed. */
  removedTemp: string[]
  /** Blobs whose bytes did not match their name, now removed. */
  removedCorrupt: string[]
}

export interface GcReport { removedBlobs: string[], removedTemp: string[] }

interface PinIndex { version: 1, epochs: Record<string, string[]> }

export const BLOBS_DIR = 'blobs'
export const PIN_INDEX = 'blob-pins.json'


function isNotFound (err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT'
}



export class BlobStore implements PartialHost {
  readonly dir: string
  readonly indexPath: string
  readonly keepEpochs: number
  readonly maxBlobBytes: number
  openReport: OpenReport = { blobs: 0, removedTemp: [], removedCorrupt: [] }
  /** Temp files of live partial writers: gc must not remove them. */
  private readonly activeTemps = new Set<string>()
  private pins: PinIndex = { version: 1, epochs: {} }
  private pinWrite: Promise<void> = Promise.resolve()

  private constructor (dataDir: string, opts: BlobStoreOptions) {
    this.dir = join(dataDir, BLOBS_DIR)
    this.indexPath = join(dataDir, PIN_INDEX)
    this.keepEpochs = opts.keepEpochs ?? 3
    this.maxBlobBytes = opts.maxBlobBytes ?? 2 ** 30
    if (!Number.isInteger(this.keepEpochs) || this.keepEpochs < 1) throw new BlobError('BLOB_BAD_ARGUMENT', 'keepEpochs must be an integer ≥ 1')
    if (!Number.isInteger(this.maxBlobBytes) || this.maxBlobBytes < 1) throw new BlobError('BLOB_BAD_ARGUMENT', 'maxBlobBytes must be a positive integer')
  }

  /** Opens (creating if needed) the store under `dataDir`, cleaning up after any crash. */
  static async open (dataDir: string, opts: BlobStoreOptions = {}): Promise<BlobStore> {
    const store = new BlobStore(dataDir, opts)
    await mkdir(store.dir, { recursive: true, mode: 0o755 })
    await store.loadPins()
    const removedTemp = await cleanTempFiles(store.dir)
    const removedCorrupt: string[] = []
    const blobs = await store.list()
    if (opts.verifyOnOpen !== false) {
      for (const cid of blobs) {
        if (!await store.verify(cid)) removedCorrupt.push(cid)
      }
      if (removedCorrupt.length > 0) await fsyncDir(store.dir)
    }
    store.openReport = { blobs: blobs.length - removedCorrupt.length, removedTemp, removedCorrupt }
    return store
  }

  private pathOf (cid: string): string {
    checkCid(cid)
    return join(this.dir, cid)
  }

  async has (cid: string): Promise<boolean> {
    if (blobCidDigest(cid) === undefined) return false
    try {
      return (await stat(join(this.dir, cid))).isFile()
    } catch (err) {
      if (isNotFound(err)) return false
      throw err
    }
  }

  async size (cid: string): Promise<number> {
    try {
      return (await stat(this.pathOf(cid))).size
    } catch (err) {
      if (isNotFound(err)) throw new BlobError('BLOB_NOT_FOUND', `no blob ${cid}`)
      throw err
    }
  }

  /** The whole blob, re-verified; a blob that rotted on disk is removed and BLOB_CORRUPT thrown. */
  async get (cid: string): Promise<Uint8Array> {
    const digest = checkCid(cid)
    let bytes: Buffer
    try {
      bytes = await readFile(join(this.dir, cid))
    } catch (err) {
      if (isNotFound(err)) throw new BlobError('BLOB_NOT_FOUND', `no blob ${cid}`)
      throw err
    }
    if (!sameBytes(createHash('sha256').update(bytes).digest(), digest)) {
      await this.remove(cid)
      throw new BlobError('BLOB_CORRUPT', `blob ${cid} did not match its hash and was removed`)
    }
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  async readRange (cid: string, offset: number, length: number): Promise<Uint8Array> {
    const path = this.pathOf(cid)
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new BlobError('BLOB_RANGE', `bad range ${offset}+${length}`)
    }
    let fh: FileHandle
    try {
      fh = await open(path, 'r')
    } catch (err) {
      if (isNotFound(err)) throw new BlobError('BLOB_NOT_FOUND', `no blob ${cid}`)
      throw err
    }
    try {
      const { size } = await fh.stat()
      if (offset + length > size) throw new BlobError('BLOB_RANGE', `range ${offset}+${length} beyond blob size ${size}`)
      const out = Buffer.allocUnsafe(length)
      let got = 0
      while (got < length) {
        const { bytesRead } = await fh.read(out, got, length - got, offset + got)
        if (bytesRead === 0) throw new BlobError('BLOB_RANGE', `blob ${cid} shrank while reading`)
        got += bytesRead
      }
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
    } finally {
      await fh.close()
    }
  }

  /**
   * Stores `bytes` under their CID and returns it. With `expectedCid`, a mismatch
   * throws BLOB_HASH_MISMATCH and nothing is written. Idempotent, and safe against a
   * concurrent put of the same blob (both renames install identical bytes).
   */
  async put (bytes: Uint8Array, expectedCid?: string): Promise<string> {
    if (expectedCid !== undefined) checkCid(expectedCid)
    if (bytes.byteLength > this.maxBlobBytes) throw new BlobError('BLOB_TOO_LARGE', `blob of ${bytes.byteLength} bytes exceeds ${this.maxBlobBytes}`)
    const cid = blobCid(bytes)
    if (expectedCid !== undefined && cid !== expectedCid) {
      throw new BlobError('BLOB_HASH_MISMATCH', `bytes hash to ${cid}, expected ${expectedCid}`)
    }
    // Already there with the right size: keep it (open() and get() catch rot). A wrong
    // size means a damaged copy, which the atomic write below replaces.
    if (await this.has(cid) && await this.size(cid).catch(() => -1) === bytes.byteLength) return cid
    await writeFileAtomic(join(this.dir, cid), bytes, { mode: 0o644 })
    return cid
  }

  /**
   * Starts assembling blob `cid` of `size` bytes from ranges written in any order
   * (what the swarm fetcher uses). Nothing is visible under the final name until
   * commit() has hashed the whole file.
   */
  async beginPartial (cid: string, size: number): Promise<PartialBlob> {
    checkCid(cid)
    if (!Number.isSafeInteger(size) || size < 0) throw new BlobError('BLOB_BAD_ARGUMENT', `bad blob size ${size}`)
    if (size > this.maxBlobBytes) throw new BlobError('BLOB_TOO_LARGE', `blob of ${size} bytes exceeds ${this.maxBlobBytes}`)
    const tempName = tempNameFor(cid)
    const fh = await open(join(this.dir, tempName), 'wx+', 0o644)
    try {
      await fh.truncate(size)
    } catch (err) {
      await fh.close()
      await unlink(join(this.dir, tempName)).catch(() => {})
      throw err
    }
    this.activeTemps.add(tempName)
    return new PartialBlob(this, cid, size, fh, tempName, () => this.activeTemps.delete(tempName))
  }

  /** CIDs of all stored blobs (temp files and stray names are not blobs). */
  async list (): Promise<string[]> {
    const names = await readdir(this.dir)
    return names.filter(n => !isTempName(n) && blobCidDigest(n) !== undefined).sort()
  }

  /** Hashes a stored blob; a mismatch removes it. False when it is missing or was corrupt. */
  async verify (cid: string): Promise<boolean> {
    const digest = checkCid(cid)
    let fh: FileHandle
    try {
      fh = await open(join(this.dir, cid), 'r')
    } catch (err) {
      if (isNotFound(err)) return false
      throw err
    }
    let ok: boolean
    try {
      ok = sameBytes(await hashFile(fh, (await fh.stat()).size), digest)
    } finally {
      await fh.close()
    }
    if (!ok) await this.remove(cid)
    return ok
  }

  private async remove (cid: string): Promise<void> {
    try {
      await unlink(join(this.dir, cid))
    } catch (err) {
      if (!isNotFound(err)) throw err
    }
  }

  /** Pins `cids` as the blobs of `epoch`; only the `keepEpochs` highest epochs stay pinned. Persisted atomically. */
  async retain (epoch: number, cids: Iterable<string>): Promise<void> {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new BlobError('BLOB_BAD_ARGUMENT', `bad epoch ${epoch}`)
    const list = [...new Set(cids)].sort()
    for (const cid of list) checkCid(cid)
    const epochs = { ...this.pins.epochs, [String(epoch)]: list }
    const keep = Object.keys(epochs).map(Number).sort((x, y) => y - x).slice(0, this.keepEpochs)
    const next: PinIndex = { version: 1, epochs: {} }
    for (const e of keep.sort((x, y) => x - y)) next.epochs[String(e)] = epochs[String(e)]
    this.pins = next
    // Serialise index writes so an older pin set never lands after a newer one.
    const write = this.pinWrite.then(async () => { await writeFileAtomic(this.indexPath, JSON.stringify(next) + '\n') })
    this.pinWrite = write.catch(() => {})
    await write
  }

  /** Epochs currently pinned, ascending. */
  retainedEpochs (): number[] {
    return Object.keys(this.pins.epochs).map(Number).sort((x, y) => x - y)
  }

  pinned (): Set<string> {
    return new Set(Object.values(this.pins.epochs).flat())
  }

  /**
   * Removes every blob that is neither pinned nor in `keep`, and temp files no live
   * writer owns. Pin (retain) or list in `keep` anything just put before calling gc.
   */
  async gc (keep: ReadonlySet<string> = new Set()): Promise<GcReport> {
    const pinned = this.pinned()
    const removedBlobs: string[] = []
    for (const cid of await this.list()) {
      if (pinned.has(cid) || keep.has(cid)) continue
      await this.remove(cid)
      removedBlobs.push(cid)
    }
    const removedTemp = await cleanTempFiles(this.dir, this.activeTemps)
    if (removedBlobs.length > 0) await fsyncDir(this.dir)
    return { removedBlobs, removedTemp }
  }

  private async loadPins (): Promise<void> {
    let text: string
    try {
      text = await readFile(this.indexPath, 'utf8')
    } catch (err) {
      if (isNotFound(err)) return
      throw err
    }
    const bad = (why: string): never => {
      throw new BlobError('BLOB_INDEX_CORRUPT', `${this.indexPath}: ${why}; move it aside to start without pins (gc may then drop old epochs)`)
    }
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      bad('not valid JSON')
    }
    const v = value as Partial<PinIndex> | null
    if (typeof v !== 'object' || v === null || v.version !== 1 || typeof v.epochs !== 'object' || v.epochs === null) bad('not a version 1 pin index')
    const epochs: Record<string, string[]> = {}
    for (const [e, list] of Object.entries((v as PinIndex).epochs)) {
      if (!/^(0|[1-9][0-9]{0,15})$/.test(e)) bad(`bad epoch key ${e}`)
      if (!Array.isArray(list) || !list.every(c => typeof c === 'string' && blobCidDigest(c) !== undefined)) bad(`bad CID list for epoch ${e}`)
      epochs[e] = list
    }
    this.pins = { version: 1, epochs }
  }

  /** For PartialBlob.commit: the atomic rename into place. */
  async installTemp (tempName: string, cid: string): Promise<void> {
    await rename(join(this.dir, tempName), join(this.dir, cid))
    await fsyncDir(this.dir)
  }

  /** For PartialBlob: discard its temp file. */
  async dropTemp (tempName: string): Promise<void> {
    await unlink(join(this.dir, tempName)).catch(() => {})
  }
}
