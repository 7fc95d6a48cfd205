// A blob assembled from ranges written in any order (the swarm fetcher's sink). It
// lives in a pre-sized, dot-prefixed temp file; commit() hashes the whole file from
// disk and only a match gets the final name (via the store's atomic rename).
import type { FileHandle } from 'node:fs/promises'
import { BlobError, checkCid, hashFile, sameBytes } from './blob-common.js'

/** What a partial needs from its store: the atomic rename into place, and cleanup. */
export interface PartialHost {
  installTemp: (tempName: string, cid: string) => Promise<void>
  dropTemp: (tempName: string) => Promise<void>
}

/** A blob being assembled from ranges; see BlobStore.beginPartial. */
export class PartialBlob {
  readonly cid: string
  readonly size: number
  private readonly store: PartialHost
  private readonly fh: FileHandle
  private readonly tempName: string
  private readonly release: () => void
  /** Written ranges as sorted, disjoint, non-adjacent [start, end) pairs. */
  private ranges: Array<[number, number]> = []
  private readonly inflight = new Set<Promise<void>>()
  private closed = false

  /** @internal use BlobStore.beginPartial */
  constructor (store: PartialHost, cid: string, size: number, fh: FileHandle, tempName: string, release: () => void) {
    this.store = store
    this.cid = cid
    this.size = size
    this.fh = fh
    this.tempName = tempName
    this.release = release
  }

  /** Writes `bytes` at `offset`. Ranges may arrive in any order, overlap or repeat. */
  async write (offset: number, bytes: Uint8Array): Promise<void> {
    if (this.closed) throw new BlobError('BLOB_CLOSED', `partial ${this.cid} is already committed or aborted`)
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + bytes.byteLength > this.size) {
      throw new BlobError('BLOB_RANGE', `range ${offset}+${bytes.byteLength} outside blob of ${this.size} bytes`)
    }
    const job = (async () => {
      let done = 0
      while (done < bytes.byteLength) {
        const { bytesWritten } = await this.fh.write(bytes, done, bytes.byteLength - done, offset + done)
        done += bytesWritten
      }
      this.addRange(offset, offset + bytes.byteLength)
    })()
    this.inflight.add(job)
    try {
      await job
    } finally {
      this.inflight.delete(job)
    }
  }

  private addRange (start: number, end: number): void {
    if (start === end) return
    const next: Array<[number, number]> = []
    let s = start
    let e = end
    for (const [a, b] of this.ranges) {
      if (b < s || a > e) next.push([a, b])
      else { s = Math.min(s, a); e = Math.max(e, b) }
    }
    next.push([s, e])
    this.ranges = next.sort((x, y) => x[0] - y[0])
  }

  /** Byte ranges [start, end) not yet written. */
  missing (): Array<[number, number]> {
    const gaps: Array<[number, number]> = []
    let at = 0
    for (const [a, b] of this.ranges) {
      if (a > at) gaps.push([at, a])
      at = Math.max(at, b)
    }
    if (at < this.size) gaps.push([at, this.size])
    return gaps
  }

  get complete (): boolean {
    return this.missing().length === 0
  }

  /**
   * Verifies the whole file against the CID and only then gives it its final name.
   * A hash mismatch discards the temp file and throws BLOB_HASH_MISMATCH; missing
   * ranges throw BLOB_INCOMPLETE and keep the partial open for more writes.
   */
  async commit (): Promise<string> {
    if (this.closed) throw new BlobError('BLOB_CLOSED', `partial ${this.cid} is already committed or aborted`)
    // Closed first, so no write can start while the file is being hashed.
    this.closed = true
    await Promise.allSettled([...this.inflight])
    const gaps = this.missing()
    if (gaps.length > 0) {
      this.closed = false
      throw new BlobError('BLOB_INCOMPLETE', `blob ${this.cid}: ${gaps.length} range(s) missing, first at ${gaps[0][0]}`)
    }
    let ok = false
    try {
      await this.fh.sync()
      ok = sameBytes(await hashFile(this.fh, this.size), checkCid(this.cid))
    } finally {
      await this.fh.close()
      if (!ok) { await this.store.dropTemp(this.tempName); this.release() }
    }
    if (!ok) throw new BlobError('BLOB_HASH_MISMATCH', `assembled bytes do not hash to ${this.cid}; discarded`)
    try {
      await this.store.installTemp(this.tempName, this.cid)
    } catch (err) {
      await this.store.dropTemp(this.tempName)
      throw err
    } finally {
      this.release()
    }
    return this.cid
  }

  /** Discards the partial; safe to call more than once. */
  async abort (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.allSettled([...this.inflight])
    await this.fh.close().catch(() => {})
    await this.store.dropTemp(this.tempName)
    this.release()
  }
}
