// Fetching the blobs of a map from the swarm: holders are the members whose meta
// says they hold the CID (plus hints such as the map's coordinator), the transfer is
// swarmFetch into the blob store (which verifies the hash before naming the blob),
// and a corrupting holder is found and shunned.
//
// swarmFetch's verify mode needs two honest holders per chunk. When it still ends in
// `corrupt`, each holder is tried alone: a whole blob from one holder that fails its
// hash proves that holder wrong, so one honest holder is enough.
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { decode as cborDecode } from 'cbor-x'
import { BLOB_PROTOCOL, encodeRangeRequest } from './net/blob-protocol.js'
import { decodeResponseFrame, exchangeSignal, openStream } from './net/request-response.js'
import { ProtocolError } from './net/errors.js'
import { SwarmFetchError } from './net/errors.js'
import { swarmFetch, type PartialBlobTarget, type SwarmFetchOptions } from './net/swarm-fetch.js'
import type { StreamNode } from './net/request-response.js'

export interface BlobFetcherOptions {
  node: StreamNode
  selfId: string
  store: PartialBlobTarget & { has: (cid: string) => Promise<boolean> }
  /** Ids of members that advertise `cid` (from their meta `holds`). */
  holdersOf: (cid: string) => string[]
  /** How long a holder caught serving wrong bytes is shunned (default 10 min). */
  distrustMs?: number
  now: () => number
  random?: () => number
  /** swarmFetch tuning (chunk size, parallelism, timeouts). */
  tuning?: Pick<SwarmFetchOptions, 'chunkBytes' | 'parallel' | 'perHolderParallel' | 'chunkTimeoutMs' | 'stallTimeoutMs'>
  log?: (msg: string, fields: Record<string, unknown>) => void
}

export class BlobFetcher {
  private readonly distrusted = new Map<string, number>()
  private readonly peerIds = new Map<string, PeerId>()
  private readonly inflight = new Map<string, Promise<void>>()

  constructor (private readonly opts: BlobFetcherOptions) {}

  /** Holders shunned for serving corrupt bytes, right now. */
  shunned (): string[] {
    const t = this.opts.now()
    return [...this.distrusted].filter(([, until]) => until > t).map(([id]) => id)
  }

  private peer (id: string): PeerId | undefined {
    let p = this.peerIds.get(id)
    if (p === undefined) {
      try { p = peerIdFromString(id) } catch { return undefined }
      this.peerIds.set(id, p)
    }
    return p
  }

  private trusted (cid: string, hints: readonly string[]): Array<{ id: string, dial: PeerId }> {
    const t = this.opts.now()
    const ids = new Set([...this.opts.holdersOf(cid), ...hints])
    const out: Array<{ id: string, dial: PeerId }> = []
    for (const id of ids) {
      if (id === this.opts.selfId || (this.distrusted.get(id) ?? 0) > t) continue
      const dial = this.peer(id)
      if (dial !== undefined) out.push({ id, dial })
    }
    return out
  }

  /** Fetches `cid` unless the store has it; concurrent calls for one CID share the work. */
  async fetch (cid: string, size: number | undefined, hints: readonly string[] = []): Promise<void> {
    if (await this.opts.store.has(cid)) return
    const running = this.inflight.get(cid)
    if (running !== undefined) return await running
    const p = this.fetchOnce(cid, size, hints).finally(() => { this.inflight.delete(cid) })
    this.inflight.set(cid, p)
    return await p
  }

  private async probeSize (cid: string, hints: readonly string[]): Promise<number> {
    const random = this.opts.random ?? Math.random
    const holders = this.trusted(cid, hints).sort(() => random() - 0.5)
    let last: unknown
    for (const h of holders) {
      try {
        return await probeBlobSize(this.opts.node, h.dial, cid, 5000)
      } catch (err) { last = err }
    }
    throw new SwarmFetchError('no-holders', `no holder could tell the size of ${cid}${last !== undefined ? `: ${String(last)}` : ''}`)
  }

  private async fetchOnce (cid: string, knownSize: number | undefined, hints: readonly string[]): Promise<void> {
    const size = knownSize ?? await this.probeSize(cid, hints)
    const base = { node: this.opts.node, cid, size, target: this.opts.store, selfId: this.opts.selfId, now: this.opts.now, ...(this.opts.random !== undefined ? { random: this.opts.random } : {}), ...this.opts.tuning }
    try {
      const stats = await swarmFetch({ ...base, holders: () => this.trusted(cid, hints), maxAttempts: 2 })
      this.shun(stats.corruptHolders, cid)
      return
    } catch (err) {
      if (!(err instanceof SwarmFetchError) || err.code !== 'corrupt') throw err
    }
    // Sole-source pass: one holder at a time, so a failed hash names the liar.
    for (const h of this.trusted(cid, hints)) {
      try {
        await swarmFetch({ ...base, holders: () => [h], maxAttempts: 1 })
        return
      } catch (err) {
        if (err instanceof SwarmFetchError && err.code === 'corrupt') this.shun([h.id], cid)
      }
    }
    throw new SwarmFetchError('corrupt', `blob ${cid}: no holder served bytes matching its hash`)
  }

  private shun (ids: readonly string[], cid: string): void {
    const until = this.opts.now() + (this.opts.distrustMs ?? 600_000)
    for (const id of ids) {
      this.distrusted.set(id, until)
      this.opts.log?.('holder served corrupt bytes; shunned', { holder: id, cid })
    }
  }
}

/**
 * A blob's size from one holder: a zero-length range request, whose answer header
 * carries the size. The size is only a claim; the hash check after the fetch decides.
 */
export async function probeBlobSize (node: StreamNode, peer: PeerId, cid: string, timeoutMs: number): Promise<number> {
  const signals = exchangeSignal(timeoutMs)
  const stream = await openStream(node, peer, BLOB_PROTOCOL, signals)
  try {
    const lp = lpStream(stream, { maxDataLength: 1024 })
    await lp.write(encodeRangeRequest({ cid, offset: 0, length: 0 }), { signal: signals.signal })
    await stream.close({ signal: signals.signal })
    const header = cborDecode(decodeResponseFrame((await lp.read({ signal: signals.signal })).subarray(), `size of ${cid}`)) as unknown
    const size = (header as { size?: unknown } | null)?.size
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new ProtocolError('bad-frame', `size of ${cid}: bad header`)
    return size
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  }
}
