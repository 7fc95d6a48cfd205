// The operator's `--join` target: a multiaddr (with or without /p2p/<id>),
// `host:port`, `[v6]:port`, a bare IPv4/IPv6 address or a host name. Anything else
// is refused with an error that names what is wrong. Also the seed dialer, which
// retries with exponential backoff and injected jitter.
import { isIPv4, isIPv6 } from 'node:net'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import type { AbortOptions, Connection } from '@libp2p/interface'
import { DialSeedError, JoinAddressError } from './errors.js'

export const DEFAULT_AGENT_PORT = 7950

export interface JoinTarget {
  multiaddr: Multiaddr
  /** The seed's PeerId when the input named one. */
  peerId?: string
}

const HOST_LABEL = /^(?!-)[a-zA-Z0-9-]{1,63}(?<!-)$/
const TRANSPORTS = new Set(['tcp', 'memory'])
const HOSTS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6'])

function parsePort (text: string, input: string): number {
  if (!/^[0-9]{1,5}$/.test(text)) throw new JoinAddressError('bad-port', input, `port ${JSON.stringify(text)} is not a number`)
  const port = Number(text)
  if (port < 1 || port > 65535) throw new JoinAddressError('bad-port', input, `port ${port} is outside 1–65535`)
  return port
}

function hostPart (host: string, input: string): string {
  if (isIPv4(host)) return `/ip4/${host}`
  if (isIPv6(host)) return `/ip6/${host}`
  if (/^[0-9.]+$/.test(host)) throw new JoinAddressError('bad-host', input, `${JSON.stringify(host)} is not a valid IPv4 address`)
  const name = host.endsWith('.') ? host.slice(0, -1) : host
  if (name.length === 0 || name.length > 253 || !name.split('.').every(l => HOST_LABEL.test(l))) {
    throw new JoinAddressError('bad-host', input, `${JSON.stringify(host)} is not a valid host name or IP address`)
  }
  return `/dns/${name}`
}

function checkPeerId (id: string, input: string): string {
  try {
    return peerIdFromString(id).toString()
  } catch {
    throw new JoinAddressError('bad-peer-id', input, `${JSON.stringify(id)} is not a valid peer id`)
  }
}

function fromMultiaddr (text: string, input: string, defaultPort: number): JoinTarget {
  let addr: Multiaddr
  try {
    addr = multiaddr(text)
  } catch (err) {
    throw new JoinAddressError('bad-multiaddr', input, `not a valid multiaddr (${err instanceof Error ? err.message : String(err)})`)
  }
  const parts = addr.getComponents()
  const p2p = parts.filter(p => p.name === 'p2p')
  if (p2p.length > 1) throw new JoinAddressError('bad-multiaddr', input, 'more than one /p2p/ component')
  const peerId = p2p.length === 1 ? checkPeerId(p2p[0].value ?? '', input) : undefined
  if (p2p.length === 1 && parts[parts.length - 1].name !== 'p2p') throw new JoinAddressError('bad-multiaddr', input, '/p2p/<id> must come last')
  const first = parts[0]
  if (first === undefined || (!HOSTS.has(first.name) && first.name !== 'memory')) {
    throw new JoinAddressError('bad-multiaddr', input, 'must start with /ip4, /ip6, /dns, /dns4, /dns6 or /memory')
  }
  if (!parts.some(p => TRANSPORTS.has(p.name))) {
    // `/ip4/10.0.0.1` alone: the operator meant the agent's default port.
    const rest = parts.slice(1).filter(p => p.name !== 'p2p')
    if (rest.length > 0) throw new JoinAddressError('bad-multiaddr', input, `no supported transport (tcp) in ${text}`)
    const base = `/${first.name}/${first.value ?? ''}/tcp/${defaultPort}`
    return { multiaddr: multiaddr(peerId !== undefined ? `${base}/p2p/${peerId}` : base), peerId }
  }
  return peerId !== undefined ? { multiaddr: addr, peerId } : { multiaddr: addr }
}

/** Parses a join target; throws JoinAddressError with a code and a readable message. */
export function parseJoinAddress (raw: string, defaultPort: number = DEFAULT_AGENT_PORT): JoinTarget {
  const input = raw
  const text = raw.trim()
  if (text === '') throw new JoinAddressError('empty', input, 'empty join address')
  if (/\s/.test(text)) throw new JoinAddressError('bad-host', input, 'contains whitespace')
  if (text.startsWith('/')) return fromMultiaddr(text, input, defaultPort)

  // host[:port][/p2p/<id>]
  let rest = text
  let peerId: string | undefined
  const p2pAt = rest.indexOf('/p2p/')
  if (p2pAt >= 0) {
    peerId = checkPeerId(rest.slice(p2pAt + 5), input)
    rest = rest.slice(0, p2pAt)
  }
  if (rest.includes('/')) throw new JoinAddressError('bad-host', input, 'unexpected "/"; a multiaddr must start with "/"')

  let host: string
  let port = defaultPort
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']')
    if (close < 0) throw new JoinAddressError('bad-host', input, 'missing "]" after an IPv6 address')
    host = rest.slice(1, close)
    if (!isIPv6(host)) throw new JoinAddressError('bad-host', input, `${JSON.stringify(host)} is not a valid IPv6 address`)
    const after = rest.slice(close + 1)
    if (after !== '') {
      if (!after.startsWith(':')) throw new JoinAddressError('bad-port', input, `expected ":port" after "]", got ${JSON.stringify(after)}`)
      port = parsePort(after.slice(1), input)
    }
  } else if (isIPv6(rest)) {
    host = rest // a bare IPv6 address: its colons are not a port separator
  } else {
    const colon = rest.lastIndexOf(':')
    if (colon >= 0) {
      if (rest.indexOf(':') !== colon) throw new JoinAddressError('bad-host', input, 'an IPv6 address with a port must be written [addr]:port')
      host = rest.slice(0, colon)
      port = parsePort(rest.slice(colon + 1), input)
    } else {
      host = rest
    }
  }
  const base = `${hostPart(host, input)}/tcp/${port}`
  const addr = multiaddr(peerId !== undefined ? `${base}/p2p/${peerId}` : base)
  return peerId !== undefined ? { multiaddr: addr, peerId } : { multiaddr: addr }
}

export interface DialSeedOptions {
  /** Additional attempts after the first (default 5). */
  retries?: number
  /** First backoff in ms; doubles each retry (default 200). */
  backoffMs?: number
  /** Upper bound for one backoff (default 5000). */
  maxBackoffMs?: number
  /**
   * Timeout of the first attempt (default 5000); it doubles with each retry, up to
   * 4×. A seed that is slow because many nodes join at once is still working on
   * our handshake when a short timeout gives up, and a retry from scratch only adds
   * to its load: waiting longer is what lets a herd of joins finish.
   */
  dialTimeoutMs?: number
  /**
   * Total time for all attempts and the waits between them (default: no limit but
   * `retries`). Attempts stop when it is spent and the last is cut to what is left,
   * so a caller with a deadline can allow many retries: a seed refusing connections
   * it has no room for fails them fast, and those retries cost little.
   */
  budgetMs?: number
  /**
   * Of the attempts, how many may end in "nobody listens there" (ECONNREFUSED and
   * the like) before giving up (default: all of them). A typo'd address should fail
   * in a second, while a busy seed (timeouts, connections it accepted and dropped)
   * deserves every retry the budget allows.
   */
  unreachableRetries?: number
  /** Injected clock for the budget (default performance.now). */
  now?: () => number
  /** Jitter source in [0, 1): each delay is scaled by 0.5 + random()/2. */
  random?: () => number
  signal?: AbortSignal
  /** Injected wait, so tests need not sleep. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
  onAttemptFailed?: (attempt: number, err: unknown, nextDelayMs: number | undefined) => void
}

export interface Dialer {
  dial: (peer: Multiaddr, options?: AbortOptions) => Promise<Connection>
}

const defaultSleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    const onAbort = (): void => { clearTimeout(timer); reject(signal?.reason) }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** The backoff before retry `attempt` (1-based): base·2^(attempt-1), capped, with jitter. */
export function backoffDelay (attempt: number, opts: { backoffMs: number, maxBackoffMs: number, random: () => number }): number {
  const raw = Math.min(opts.maxBackoffMs, opts.backoffMs * 2 ** (attempt - 1))
  return Math.round(raw * (0.5 + opts.random() / 2))
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])

/** Whether a dial failed because nothing answers at the address (as opposed to a slow or busy peer). */
function isUnreachable (err: unknown): boolean {
  const seen = new Set<unknown>()
  const visit = (e: unknown): boolean => {
    if (e === null || typeof e !== 'object' || seen.has(e)) return false
    seen.add(e)
    const { code, errors, cause } = e as { code?: unknown, errors?: unknown, cause?: unknown }
    if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return true
    // libp2p may wrap per-address failures in an AggregateError.
    if (Array.isArray(errors) && errors.length > 0) return errors.every(visit)
    return visit(cause)
  }
  return visit(err)
}

/** Dials the seed, retrying with backoff; resolves to the connection. */
export async function dialSeed (node: Dialer, target: JoinTarget | string, opts: DialSeedOptions = {}): Promise<Connection> {
  const t = typeof target === 'string' ? parseJoinAddress(target) : target
  const retries = opts.retries ?? 5
  const backoff = { backoffMs: opts.backoffMs ?? 200, maxBackoffMs: opts.maxBackoffMs ?? 5000, random: opts.random ?? Math.random }
  const sleep = opts.sleep ?? defaultSleep
  const now = opts.now ?? (() => performance.now())
  const giveUpAt = now() + (opts.budgetMs ?? Infinity)
  let lastError: unknown
  let attempts = 0
  let unreachable = 0
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (opts.signal?.aborted === true) throw new DialSeedError('aborted', attempt, `joining ${t.multiaddr.toString()} aborted`, opts.signal.reason)
    const left = giveUpAt - now()
    if (left <= 0) break
    attempts++
    // AbortSignal.timeout takes whole milliseconds only (it throws on 5273.4), and the clock is fractional.
    const timeout = AbortSignal.timeout(Math.ceil(Math.min(left, (opts.dialTimeoutMs ?? 5000) * 2 ** Math.min(attempt, 2))))
    const signal = opts.signal != null ? AbortSignal.any([timeout, opts.signal]) : timeout
    try {
      return await node.dial(t.multiaddr, { signal })
    } catch (err) {
      lastError = err
      if (isUnreachable(err)) unreachable++
      let delay = attempt < retries ? backoffDelay(attempt + 1, backoff) : undefined
      if (delay !== undefined && now() + delay >= giveUpAt) delay = undefined
      if (unreachable > (opts.unreachableRetries ?? retries)) delay = undefined
      opts.onAttemptFailed?.(attempt + 1, err, delay)
      if (delay === undefined) break
      try {
        await sleep(delay, opts.signal)
      } catch (abortErr) {
        throw new DialSeedError('aborted', attempt + 1, `joining ${t.multiaddr.toString()} aborted`, abortErr)
      }
    }
  }
  const why = lastError instanceof Error ? `${lastError.name}: ${lastError.message}` : String(lastError)
  throw new DialSeedError('seed-unreachable', attempts, `seed ${t.multiaddr.toString()} unreachable after ${attempts} attempt${attempts === 1 ? '' : 's'} (${why})`, lastError)
}

/**
 * The seeds in `--join` order, rotated to start at a random one (`random` in [0, 1)):
 * nodes given the same list then spread their first attempts over all the seeds.
 */
export function seedOrder<T> (seeds: readonly T[], random: () => number): T[] {
  if (seeds.length === 0) return []
  const first = Math.min(seeds.length - 1, Math.max(0, Math.floor(random() * seeds.length)))
  return [...seeds.slice(first), ...seeds.slice(0, first)]
}
