// A token bucket shared by all uploads of one node: models (or enforces) an upload
// link of `bytesPerSecond`. Operators use it to cap ring distribution traffic; the
// swarm benchmark uses it so that one process with N nodes behaves like N hosts
// with their own uplinks instead of one CPU-bound event loop.

export interface ByteRateLimiter {
  /** Resolves once `bytes` may be sent; waiters are served in order. */
  take: (bytes: number, signal?: AbortSignal) => Promise<void>
}

export interface TokenBucketOptions {
  bytesPerSecond: number
  /** Bucket depth in bytes (default: 1/20 s worth, at least 64 KiB). */
  burstBytes?: number
  now?: () => number
}

export function tokenBucket (opts: TokenBucketOptions): ByteRateLimiter {
  if (!(opts.bytesPerSecond > 0)) throw new RangeError('bytesPerSecond must be positive')
  const rate = opts.bytesPerSecond / 1000
  const burst = opts.burstBytes ?? Math.max(64 * 1024, opts.bytesPerSecond / 20)
  const now = opts.now ?? (() => performance.now())
  let tokens = burst
  let last = now()
  let queue: Promise<void> = Promise.resolve()

  const refill = (): void => {
    const t = now()
    tokens = Math.min(burst, tokens + (t - last) * rate)
    last = t
  }

  const takeInOrder = async (bytes: number, signal?: AbortSignal): Promise<void> => {
    refill()
    // Allow a debt of one request so a single take larger than the bucket still passes.
    while (tokens < Math.min(bytes, burst)) {
      signal?.throwIfAborted()
      const waitMs = Math.max(1, (Math.min(bytes, burst) - tokens) / rate)
      await new Promise(resolve => setTimeout(resolve, waitMs).unref())
      refill()
    }
    tokens -= bytes
  }

  return {
    take: async (bytes, signal) => {
      const mine = queue.then(async () => { await takeInOrder(bytes, signal) })
      queue = mine.catch(() => {})
      await mine
    }
  }
}
