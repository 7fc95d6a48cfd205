// Fetches one blob of known CID and size from a changing set of holders, BitTorrent
// style: the blob is cut into chunks, several chunks are in flight at once, each
// from the holder that served us last (we hold an upload slot there), else the
// least-loaded one (random among equals, so no holder — least of all the
// coordinator — becomes the hub of a star), and a failed or refused chunk is
// retried from another holder.
//
// Integrity and blame. The CID is the hash of the whole blob, so corruption shows
// only when the sink's commit() verifies it. If the caller supplies per-chunk
// hashes, each chunk is checked on arrival and a bad holder is blamed at once.
// Otherwise:
//   attempt 1  fetch normally and remember the sha256 of every chunk (32 B each)
//              and who served it; commit() fails → abort the partial file.
//   attempt 2+ "verify mode": every chunk must come from a holder that has not
//              served it before, and is accepted only when its hash equals a hash
//              some *other* holder served for that chunk. On disagreement the chunk
//              is fetched from yet another holder; the majority wins and the holders
//              that voted otherwise are marked corrupt and excluded.
// One corrupt holder therefore costs about one extra pass, and it is named in the
// stats. Verify mode needs at least two honest holders per chunk.
import { createHash } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { fetchRange as defaultFetchRange } from './blob-protocol.js'
import { ProtocolError, SwarmFetchError } from './errors.js'
import type { StreamNode } from './request-response.js'

/** The writer the blob store hands out; commit() verifies the whole hash. */
export interface PartialBlobSink {
  write: (offset: number, bytes: Uint8Array) => Promise<void> | void
  commit: () => Promise<unknown> | unknown
  abort: () => Promise<unknown> | unknown
}

export interface PartialBlobTarget {
  beginPartial: (cid: string, size: number) => Promise<PartialBlobSink> | PartialBlobSink
}

/** A holder with an explicit dial target (useful when the peer store lacks its address). */
export interface BlobHolder { id: string, dial: PeerId | Multiaddr }

export type RangeFetcher = (node: StreamNode, peer: PeerId | Multiaddr, cid: string, offset: number, length: number, signal: AbortSignal | undefined, opts: { timeoutMs: number, expectedSize: number, more: boolean }) => Promise<Uint8Array>

export interface SwarmFetchOptions {
  node: StreamNode
  cid: string
  size: number
  /** Current holders; called again whenever a chunk needs one, so the set may grow. */
  holders: () => Array<PeerId | BlobHolder>
  target: PartialBlobTarget
  /** Our own id, never used as a holder. */
  selfId?: string
  /** Chunk size in bytes (default 512 KiB, at most the blob protocol's 4 MiB range). */
  chunkBytes?: number
  /** Chunks in flight at once (default 4). */
  parallel?: number
  /** Chunks in flight from one holder (default 2). */
  perHolderParallel?: number
  /** Deadline per chunk (default 10 s). */
  chunkTimeoutMs?: number
  /** Give up with `no-holders` after this long without any usable holder (default 10 s). */
  stallTimeoutMs?: number
  /** Whole-blob attempts before giving up with `corrupt` (default 3). */
  maxAttempts?: number
  /** sha256 of each chunk (same chunkBytes), if the caller knows them. */
  chunkHashes?: Uint8Array[]
  /**
   * Whether we already have a connection to a holder. Among equally loaded holders
   * connected ones are preferred: a new connection (TCP, noise, identify) costs more
   * than a chunk on loopback.
   */
  isConnected?: (id: string) => boolean
  /** Longest wait before asking a busy holder again (default 320 ms). */
  busyBackoffMaxMs?: number
  random?: () => number
  now?: () => number
  signal?: AbortSignal
  fetchRange?: RangeFetcher
}

export interface SwarmFetchStats {
  cid: string
  size: number
  chunks: number
  attempts: number
  retries: number
  bytesByHolder: Record<string, number>
  chunksByHolder: Record<string, number>
  /** Holders that served bytes proven wrong; the caller should stop trusting them. */
  corruptHolders: string[]
  /** `busy` answers (holder at its upload limit); not failures. */
  busy: number
  /** Holders that failed at least once (timeout, refusal, disconnect). */
  failedHolders: string[]
  ms: number
}

interface HolderEntry { id: string, dial: PeerId | Multiaddr }

function toEntry (h: PeerId | BlobHolder): HolderEntry {
  return 'dial' in h && typeof h.id === 'string' ? h : { id: h.toString(), dial: h as PeerId }
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

export async function swarmFetch (opts: SwarmFetchOptions): Promise<SwarmFetchStats> {
  const chunkBytes = opts.chunkBytes ?? 512 * 1024
  if (!Number.isSafeInteger(opts.size) || opts.size < 0) throw new SwarmFetchError('bad-argument', `bad blob size ${opts.size}`)
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > 4 * 1024 * 1024) throw new SwarmFetchError('bad-argument', `bad chunk size ${chunkBytes}`)
  const chunks = Math.ceil(opts.size / chunkBytes)
  const expected = opts.chunkHashes?.map(h => Buffer.from(h).toString('hex'))
  if (expected !== undefined && expected.length !== chunks) throw new SwarmFetchError('bad-argument', `${expected.length} chunk hashes for ${chunks} chunks`)
  const parallel = opts.parallel ?? 4
  const perHolder = opts.perHolderParallel ?? 2
  const chunkTimeoutMs = opts.chunkTimeoutMs ?? 10_000
  const stallTimeoutMs = opts.stallTimeoutMs ?? 10_000
  const maxAttempts = opts.maxAttempts ?? 3
  const random = opts.random ?? Math.random
  const now = opts.now ?? (() => performance.now())
  const fetchRange: RangeFetcher = opts.fetchRange ?? defaultFetchRange
  const started = now()
  const aborted = (): boolean => opts.signal?.aborted === true

  const stats: SwarmFetchStats = { cid: opts.cid, size: opts.size, chunks, attempts: 0, retries: 0, bytesByHolder: {}, chunksByHolder: {}, corruptHolders: [], failedHolders: [], busy: 0, ms: 0 }
  const corrupt = new Set<string>()
  const failed = new Set<string>()
  const failures = new Map<string, number>()
  const busyStreak = new Map<string, number>()
  let lastServer: string | undefined
  const busyBackoffMaxMs = opts.busyBackoffMaxMs ?? 320
  const cooldownUntil = new Map<string, number>()
  // votes[i]: holder id → sha256 it served for chunk i, over all attempts.
  const votes: Array<Map<string, string>> = Array.from({ length: chunks }, () => new Map())

  const markCorrupt = (id: string): void => {
    if (!corrupt.has(id)) { corrupt.add(id); stats.corruptHolders.push(id) }
  }

  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    stats.attempts = attempt
    const verify = expected === undefined && attempt > 1
    const sink = await opts.target.beginPartial(opts.cid, opts.size)
    const digests: string[] = new Array<string>(chunks)
    const servedBy: string[] = new Array<string>(chunks)
    const state: Array<'pending' | 'busy' | 'done'> = new Array(chunks).fill('pending')
    const inflight = new Map<string, number>()
    let remaining = chunks
    let lastProgress = now()
    let fatal: SwarmFetchError | undefined

    const eligible = (chunk: number): HolderEntry[] => {
      const t = now()
      const out: HolderEntry[] = []
      const seen = new Set<string>()
      let listed: Array<PeerId | BlobHolder>
      try { listed = opts.holders() } catch { listed = [] }
      for (const raw of listed) {
        const h = toEntry(raw)
        if (seen.has(h.id) || h.id === opts.selfId || corrupt.has(h.id)) continue
        seen.add(h.id)
        if ((cooldownUntil.get(h.id) ?? 0) > t || (inflight.get(h.id) ?? 0) >= perHolder) continue
        if (verify && votes[chunk].has(h.id)) continue
        out.push(h)
      }
      return out
    }

    // Sticky to the last server, then least loaded, then already connected, random among equals.
    const pick = (): { chunk: number, holder: HolderEntry } | undefined => {
      for (let i = 0; i < chunks; i++) {
        if (state[i] !== 'pending') continue
        const candidates = eligible(i)
        if (candidates.length === 0) continue
        let best: HolderEntry[] = []
        let bestLoad = Infinity
        for (const c of candidates) {
          // The holder that served us last comes first: a holder serves a peer in a
          // session (upload slot), and finishing one fetcher fast (it then serves
          // too) beats all fetchers progressing evenly.
          if (c.id === lastServer) return { chunk: i, holder: c }
          const load = (inflight.get(c.id) ?? 0) * 2 + (opts.isConnected?.(c.id) === false ? 1 : 0)
          if (load < bestLoad) { bestLoad = load; best = [c] } else if (load === bestLoad) best.push(c)
        }
        return { chunk: i, holder: best[Math.floor(random() * best.length) % best.length] }
      }
      return undefined
    }

    // In verify mode a chunk no remaining holder can vote on cannot be settled.
    const unresolvable = (): number | undefined => {
      if (!verify) return undefined
      let listed: Array<PeerId | BlobHolder>
      try { listed = opts.holders() } catch { listed = [] }
      const known = new Set(listed.map(h => toEntry(h).id))
      for (let i = 0; i < chunks; i++) {
        if (state[i] !== 'pending') continue
        let open = false
        for (const id of known) if (id !== opts.selfId && !corrupt.has(id) && !votes[i].has(id)) { open = true; break }
        if (!open) return i
      }
      return undefined
    }

    const accept = async (chunk: number, holder: string, bytes: Uint8Array, digest: string): Promise<void> => {
      try {
        await sink.write(chunk * chunkBytes, bytes)
      } catch (err) {
        fatal ??= new SwarmFetchError('sink-failed', `writing chunk ${chunk} failed: ${String(err)}`, err)
        return
      }
      digests[chunk] = digest
      servedBy[chunk] = holder
      state[chunk] = 'done'
      remaining--
      stats.bytesByHolder[holder] = (stats.bytesByHolder[holder] ?? 0) + bytes.byteLength
      stats.chunksByHolder[holder] = (stats.chunksByHolder[holder] ?? 0) + 1
    }

    const judge = async (chunk: number, holder: string, bytes: Uint8Array): Promise<void> => {
      const digest = sha256(bytes)
      if (expected !== undefined) {
        if (digest === expected[chunk]) await accept(chunk, holder, bytes, digest)
        else { markCorrupt(holder); stats.retries++; state[chunk] = 'pending' }
        return
      }
      if (!verify) { await accept(chunk, holder, bytes, digest); return }
      const agreeing = [...votes[chunk]].filter(([id, d]) => d === digest && id !== holder && !corrupt.has(id))
      votes[chunk].set(holder, digest)
      if (agreeing.length > 0) {
        for (const [id, d] of votes[chunk]) if (d !== digest) markCorrupt(id)
        await accept(chunk, holder, bytes, digest)
      } else {
        stats.retries++
        state[chunk] = 'pending'
      }
    }

    const worker = async (): Promise<void> => {
      while (remaining > 0 && fatal === undefined) {
        if (aborted()) { fatal = new SwarmFetchError('aborted', 'swarm fetch aborted'); return }
        const job = pick()
        if (job === undefined) {
          const stuck = unresolvable()
          if (stuck !== undefined && [...inflight.values()].every(n => n === 0)) {
            fatal = new SwarmFetchError('corrupt', `chunk ${stuck}: holders disagree and none is left to break the tie`)
            return
          }
          if (now() - lastProgress > stallTimeoutMs) {
            fatal = new SwarmFetchError('no-holders', `no usable holder for ${Math.round(stallTimeoutMs)} ms; ${remaining}/${chunks} chunks missing`)
            return
          }
          await new Promise(resolve => setTimeout(resolve, 20).unref())
          continue
        }
        const { chunk, holder } = job
        state[chunk] = 'busy'
        inflight.set(holder.id, (inflight.get(holder.id) ?? 0) + 1)
        const offset = chunk * chunkBytes
        const length = Math.min(chunkBytes, opts.size - offset)
        try {
          // Whether we may ask this holder again: lets it hand our upload slot on at once.
          const more = state.some(st => st === 'pending')
          const bytes = await fetchRange(opts.node, holder.dial, opts.cid, offset, length, opts.signal, { timeoutMs: chunkTimeoutMs, expectedSize: opts.size, more })
          failures.delete(holder.id)
          lastServer = holder.id
          busyStreak.delete(holder.id)
          lastProgress = now()
          await judge(chunk, holder.id, bytes)
        } catch (err) {
          if (aborted()) { fatal ??= new SwarmFetchError('aborted', 'swarm fetch aborted', err); return }
          stats.retries++
          state[chunk] = 'pending'
          if (lastServer === holder.id) lastServer = undefined
          if (err instanceof ProtocolError && err.code === 'busy') {
            // Alive but saturated: ask it again later, backing off while it stays busy
            // (10 ms doubling up to busyBackoffMaxMs, jittered); meanwhile other holders
            // are tried, so a holder that became free is found without hammering this one.
            stats.busy++
            lastProgress = now()
            const n = (busyStreak.get(holder.id) ?? 0) + 1
            busyStreak.set(holder.id, n)
            cooldownUntil.set(holder.id, now() + Math.min(busyBackoffMaxMs, 10 * 2 ** (n - 1)) * (0.5 + random()))
            continue
          }
          if (!failed.has(holder.id)) { failed.add(holder.id); stats.failedHolders.push(holder.id) }
          const n = (failures.get(holder.id) ?? 0) + 1
          failures.set(holder.id, n)
          // Back off from a failing holder: 100 ms, 200 ms, … up to 5 s.
          cooldownUntil.set(holder.id, now() + Math.min(5000, 100 * 2 ** (n - 1)))
        } finally {
          inflight.set(holder.id, (inflight.get(holder.id) ?? 1) - 1)
        }
      }
    }

    await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, chunks)) }, worker))
    if (fatal !== undefined) {
      await Promise.resolve(sink.abort()).catch(() => {})
      stats.ms = now() - started
      throw fatal
    }
    try {
      await sink.commit()
    } catch (err) {
      // Whole-blob hash mismatch: remember who said what, start a verifying attempt.
      for (let i = 0; i < chunks; i++) if (servedBy[i] !== undefined) votes[i].set(servedBy[i], digests[i])
      await Promise.resolve(sink.abort()).catch(() => {})
      if (attempt === maxAttempts) {
        stats.ms = now() - started
        throw new SwarmFetchError('corrupt', `blob ${opts.cid} failed verification after ${attempt} attempts`, err)
      }
      continue
    }
    // Verified: any earlier vote that differs from the final bytes was a lie.
    for (let i = 0; i < chunks; i++) {
      for (const [id, d] of votes[i]) if (d !== digests[i]) markCorrupt(id)
    }
    stats.ms = now() - started
    return stats
  }
  throw new SwarmFetchError('corrupt', 'unreachable')
}
