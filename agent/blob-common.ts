// Shared by the blob store and its partial writer: the error type, CID checks, and
// hashing a file through a handle.
import { createHash } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import { blobCidDigest } from '../protocol/map/blob-cid.js'

const HASH_CHUNK = 1 << 20

export type BlobErrorCode =
  | 'BLOB_BAD_CID' | 'BLOB_NOT_FOUND' | 'BLOB_HASH_MISMATCH' | 'BLOB_CORRUPT' | 'BLOB_RANGE'
  | 'BLOB_INCOMPLETE' | 'BLOB_TOO_LARGE' | 'BLOB_CLOSED' | 'BLOB_INDEX_CORRUPT' | 'BLOB_BAD_ARGUMENT'

export class BlobError extends Error {
  readonly code: BlobErrorCode
  constructor (code: BlobErrorCode, message: string) {
    super(message)
    this.name = 'BlobError'
    this.code = code
  }
}

export function checkCid (cid: string): Uint8Array {
  const digest = blobCidDigest(cid)
  if (digest === undefined) throw new BlobError('BLOB_BAD_CID', `not a blob CID: ${String(cid).slice(0, 80)}`)
  return digest
}

export async function hashFile (fh: FileHandle, size: number): Promise<Buffer> {
  const hash = createHash('sha256')
  const buf = Buffer.allocUnsafe(Math.min(HASH_CHUNK, Math.max(size, 1)))
  for (let at = 0; at < size;) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - at), at)
    if (bytesRead === 0) break
    hash.update(buf.subarray(0, bytesRead))
    at += bytesRead
  }
  return hash.digest()
}

export function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}
