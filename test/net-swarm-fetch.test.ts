import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash, randomBytes } from 'node:crypto'
import { startLocalNodes, stopNodes } from '../agent/net/local-cluster.js'
import { serveBlobs, type BlobSource } from '../agent/net/blob-protocol.js'
import { swarmFetch, type BlobHolder, type PartialBlobSink, type PartialBlobTarget } from '../agent/net/swarm-fetch.js'
import { SwarmFetchError } from '../agent/net/errors.js'
import type { RingleaderNode } from '../agent/net/create-node.js'

const CID = 'bafkreiswarmtest000000000000000000000000000000000000000000'
const SIZE = 5 * 1024 * 1024

function source (blob: Uint8Array, corrupt = false): BlobSource {
  return {
    has: (cid) => cid === CID,
    size: () => blob.byteLength,
    readRange: async (_cid, offset, length) => {
      // A copy: Buffer#slice would be a view, and corrupting it would corrupt the original.
      const out = Uint8Array.prototype.slice.call(blob, offset, offset + length)
      if (corrupt) out[0] ^= 0xff
      return out
    }
  }
}

/** A stand-in for the blob store: verifies sha256 of the whole blob at commit. */
class MemoryTarget implements PartialBlobTarget {
  begun = 0
  aborted = 0
  committed: Uint8Array | undefined
  constructor (private readonly digest: string) {}
  beginPartial (_cid: string, size: number): PartialBlobSink {
    this.begun++
    const buf = new Uint8Array(size)
    return {
      write: (offset, bytes) => { buf.set(bytes, offset) },
      commit: () => {
        if (createHash('sha256').update(buf).digest('hex') !== this.digest) throw new Error('hash mismatch')
        this.committed = buf
      },
      abort: () => { this.aborted++ }
    }
  }
}

function seeded (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
}

const holderOf = (n: RingleaderNode): BlobHolder => ({ id: n.peerId.toString(), dial: n.getMultiaddrs()[0] })

test('5 MB from 3 holders: correct bytes, chunks spread over more than one holder', async () => {
  const nodes = await startLocalNodes(4, 'memory')
  try {
    const blob = randomBytes(SIZE)
    const [fetcher, ...holders] = nodes
    for (const h of holders) await serveBlobs(h, source(blob))
    const target = new MemoryTarget(createHash('sha256').update(blob).digest('hex'))
    const stats = await swarmFetch({ node: fetcher, cid: CID, size: SIZE, holders: () => holders.map(holderOf), target, chunkBytes: 512 * 1024, random: seeded(1), selfId: fetcher.peerId.toString() })
    assert.ok(target.committed !== undefined && Buffer.from(target.committed).equals(blob))
    const served = Object.keys(stats.bytesByHolder)
    assert.ok(served.length >= 2, `served by ${served.length}`)
    assert.is(Object.values(stats.bytesByHolder).reduce((a, b) => a + b, 0), SIZE)
    assert.is(stats.attempts, 1)
    assert.equal(stats.corruptHolders, [])
  } finally { await stopNodes(nodes) }
})

test('a holder serving corrupted bytes: blob still right, the holder is named', async () => {
  const nodes = await startLocalNodes(5, 'memory')
  try {
    const blob = randomBytes(SIZE)
    const [fetcher, ...holders] = nodes
    for (const [i, h] of holders.entries()) await serveBlobs(h, source(blob, i === 1))
    const target = new MemoryTarget(createHash('sha256').update(blob).digest('hex'))
    const stats = await swarmFetch({ node: fetcher, cid: CID, size: SIZE, holders: () => holders.map(holderOf), target, random: seeded(7) })
    assert.ok(target.committed !== undefined && Buffer.from(target.committed).equals(blob))
    assert.equal(stats.corruptHolders, [holders[1].peerId.toString()])
    assert.is(stats.attempts, 2)
    assert.is(target.aborted, 1)
  } finally { await stopNodes(nodes) }
})

test('with per-chunk hashes a corrupt holder is caught on the first pass', async () => {
  const nodes = await startLocalNodes(3, 'memory')
  try {
    const blob = randomBytes(SIZE)
    const [fetcher, ...holders] = nodes
    for (const [i, h] of holders.entries()) await serveBlobs(h, source(blob, i === 0))
    const chunkBytes = 1024 * 1024
    const chunkHashes: Uint8Array[] = []
    for (let at = 0; at < SIZE; at += chunkBytes) chunkHashes.push(createHash('sha256').update(blob.subarray(at, at + chunkBytes)).digest())
    const target = new MemoryTarget(createHash('sha256').update(blob).digest('hex'))
    const stats = await swarmFetch({ node: fetcher, cid: CID, size: SIZE, holders: () => holders.map(holderOf), target, chunkBytes, chunkHashes, random: seeded(3) })
    assert.ok(target.committed !== undefined)
    assert.is(stats.attempts, 1)
    assert.equal(stats.corruptHolders, [holders[0].peerId.toString()])
    assert.is(stats.bytesByHolder[holders[1].peerId.toString()], SIZE)
  } finally { await stopNodes(nodes) }
})

test('all holders gone: clean no-holders error, nothing committed, partial aborted', async () => {
  const nodes = await startLocalNodes(3, 'memory')
  try {
    const blob = randomBytes(SIZE)
    const [fetcher, ...holders] = nodes
    for (const h of holders) await serveBlobs(h, source(blob))
    const list = holders.map(holderOf)
    await stopNodes(holders)
    const target = new MemoryTarget(createHash('sha256').update(blob).digest('hex'))
    const started = Date.now()
    try {
      await swarmFetch({ node: fetcher, cid: CID, size: SIZE, holders: () => list, target, stallTimeoutMs: 800, chunkTimeoutMs: 1000 })
      assert.unreachable('should fail')
    } catch (err) {
      assert.instance(err, SwarmFetchError)
      assert.is((err as SwarmFetchError).code, 'no-holders')
    }
    assert.ok(Date.now() - started < 5000)
    assert.is(target.committed, undefined)
    assert.is(target.aborted, 1)
  } finally { await stopNodes(nodes) }
})

test('a holder that appears later is used once the first ones fail', async () => {
  const nodes = await startLocalNodes(3, 'memory')
  try {
    const blob = randomBytes(1024 * 1024)
    const [fetcher, dead, late] = nodes
    await serveBlobs(late, source(blob))
    const deadHolder = holderOf(dead)
    await dead.stop()
    const list: BlobHolder[] = [deadHolder]
    setTimeout(() => list.push(holderOf(late)), 200).unref()
    const target = new MemoryTarget(createHash('sha256').update(blob).digest('hex'))
    const stats = await swarmFetch({ node: fetcher, cid: CID, size: blob.byteLength, holders: () => list, target, chunkBytes: 256 * 1024, stallTimeoutMs: 3000 })
    assert.ok(target.committed !== undefined)
    assert.equal(Object.keys(stats.bytesByHolder), [late.peerId.toString()])
    assert.equal(stats.failedHolders, [deadHolder.id])
  } finally { await stopNodes(nodes) }
})

test.run()
