import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { multiaddr } from '@multiformats/multiaddr'
import { backoffDelay, dialSeed, parseJoinAddress, seedOrder } from '../agent/net/join-address.js'
import { DialSeedError, JoinAddressError } from '../agent/net/errors.js'
import { startLocalNodes, stopNodes } from '../agent/net/local-cluster.js'
import { connect, createServer, type Socket } from 'node:net'
import { MAX_INCOMING_PENDING } from '../agent/net/create-node.js'

const ID = '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf'

const good: Array<[string, string, string?]> = [
  ['10.0.0.5', '/ip4/10.0.0.5/tcp/7950'],
  ['10.0.0.5:8000', '/ip4/10.0.0.5/tcp/8000'],
  ['  10.0.0.5:8000 ', '/ip4/10.0.0.5/tcp/8000'],
  ['node-a.example.org', '/dns/node-a.example.org/tcp/7950'],
  ['node-a.example.org.:1', '/dns/node-a.example.org/tcp/1'],
  ['localhost:65535', '/dns/localhost/tcp/65535'],
  ['[::1]:7000', '/ip6/::1/tcp/7000'],
  ['[fe80::1]', '/ip6/fe80::1/tcp/7950'],
  ['2001:db8::7', '/ip6/2001:db8::7/tcp/7950'],
  [`10.0.0.5:8000/p2p/${ID}`, `/ip4/10.0.0.5/tcp/8000/p2p/${ID}`, ID],
  ['/ip4/127.0.0.1/tcp/4001', '/ip4/127.0.0.1/tcp/4001'],
  [`/ip4/127.0.0.1/tcp/4001/p2p/${ID}`, `/ip4/127.0.0.1/tcp/4001/p2p/${ID}`, ID],
  ['/ip6/::1', '/ip6/::1/tcp/7950'],
  ['/dns4/seed.example/tcp/9', '/dns4/seed.example/tcp/9'],
  [`/dns/seed.example/p2p/${ID}`, `/dns/seed.example/tcp/7950/p2p/${ID}`, ID],
  ['/memory/abc-123', '/memory/abc-123']
]

const bad: Array<[string, string]> = [
  ['', 'empty'],
  ['   ', 'empty'],
  ['10.0.0.5:0', 'bad-port'],
  ['10.0.0.5:70000', 'bad-port'],
  ['10.0.0.5:http', 'bad-port'],
  ['10.0.0.5:', 'bad-port'],
  ['[::1]x', 'bad-port'],
  ['[::1', 'bad-host'],
  ['[nothex]:1', 'bad-host'],
  ['999.1.1.1', 'bad-host'],
  ['-bad-.example', 'bad-host'],
  ['a b', 'bad-host'],
  ['fe80::1:7000x', 'bad-host'],
  ['host/path', 'bad-host'],
  ['/ip4/999.0.0.1/tcp/1', 'bad-multiaddr'],
  ['/tcp/1', 'bad-multiaddr'],
  ['/ip4/1.2.3.4/udp/1', 'bad-multiaddr'],
  [`/ip4/1.2.3.4/p2p/${ID}/tcp/1`, 'bad-multiaddr'],
  ['10.0.0.5/p2p/notapeer', 'bad-peer-id']
]

test('parse table: accepted forms', () => {
  for (const [input, want, peer] of good) {
    const t = parseJoinAddress(input)
    assert.is(t.multiaddr.toString(), want, input)
    assert.is(t.peerId, peer, input)
  }
})

test('parse table: refused forms name the problem', () => {
  for (const [input, code] of bad) {
    try {
      parseJoinAddress(input)
      assert.unreachable(`accepted ${JSON.stringify(input)}`)
    } catch (err) {
      assert.instance(err, JoinAddressError, `${input}: ${String(err)}`)
      assert.is((err as JoinAddressError).code, code, `${JSON.stringify(input)}: ${(err as Error).message}`)
      assert.match((err as Error).message, 'join address')
    }
  }
})

test('backoff doubles, is capped, and is jittered by the injected source', () => {
  const opts = { backoffMs: 100, maxBackoffMs: 1000, random: () => 1 - Number.EPSILON }
  assert.equal([1, 2, 3, 4, 5, 6].map(a => backoffDelay(a, opts)), [100, 200, 400, 800, 1000, 1000])
  assert.is(backoffDelay(3, { ...opts, random: () => 0 }), 200)
})

test('dialSeed retries with backoff, then fails with a typed error; succeeds against a live seed', async () => {
  const [a, b] = await startLocalNodes(2, 'memory')
  try {
    const slept: number[] = []
    const failed: number[] = []
    const target = { multiaddr: multiaddr('/memory/nobody-listens-here') }
    try {
      await dialSeed(a, target, { retries: 3, backoffMs: 100, random: () => 0.5, sleep: async (ms) => { slept.push(ms) }, onAttemptFailed: (n) => failed.push(n) })
      assert.unreachable('should fail')
    } catch (err) {
      assert.instance(err, DialSeedError)
      assert.is((err as DialSeedError).code, 'seed-unreachable')
      assert.is((err as DialSeedError).attempts, 4)
    }
    assert.equal(slept, [75, 150, 300])
    assert.equal(failed, [1, 2, 3, 4])
    const ac = new AbortController()
    ac.abort()
    await dialSeed(a, target, { signal: ac.signal }).then(() => assert.unreachable('aborted'), (err: unknown) => assert.is((err as DialSeedError).code, 'aborted'))
    const conn = await dialSeed(a, b.getMultiaddrs()[0].toString(), { retries: 0 })
    assert.is(conn.remotePeer.toString(), b.peerId.toString())
  } finally { await stopNodes([a, b]) }
})

test('dialSeed gives a slow seed longer each attempt (the timeout doubles, up to 4x)', async () => {
  const waited: number[] = []
  // A seed that never completes a handshake: each dial ends only when its signal aborts.
  const stuck = {
    dial: async (_addr: unknown, opts?: { signal?: AbortSignal }): Promise<never> => await new Promise((_resolve, reject) => {
      const started = performance.now()
      opts?.signal?.addEventListener('abort', () => { waited.push(performance.now() - started); reject(new Error('timed out')) }, { once: true })
    })
  }
  // AbortSignal.timeout does not keep the process alive; this does, for the test's length.
  const keepAlive = setInterval(() => {}, 1000)
  try {
    await dialSeed(stuck as unknown as Parameters<typeof dialSeed>[0], { multiaddr: multiaddr('/ip4/127.0.0.1/tcp/1') }, { retries: 3, dialTimeoutMs: 60, sleep: async () => {} })
    assert.unreachable('should fail')
  } catch (err) {
    assert.instance(err, DialSeedError)
  } finally {
    clearInterval(keepAlive)
  }
  assert.is(waited.length, 4)
  const expected = [60, 120, 240, 240]
  waited.forEach((ms, i) => { assert.ok(ms >= expected[i] - 5 && ms < expected[i] + 200, `attempt ${i + 1} waited ${Math.round(ms)} ms, expected ~${expected[i]}`) })
})

test('a real node keeps a dial attempt open as long as the caller asks, past libp2p\'s 6 s per-address cap', async () => {
  // A seed whose accept queue is still draining looks like this: TCP connects, then
  // nothing is said. libp2p alone would abort every attempt at 6 s whatever the
  // caller's timeout; a join's third attempt (12 s) needs the full time.
  const held: Socket[] = []
  const tarpit = createServer(s => { held.push(s) })
  await new Promise<void>(resolve => tarpit.listen(0, '127.0.0.1', resolve))
  const port = (tarpit.address() as { port: number }).port
  const [a] = await startLocalNodes(1, 'tcp')
  const started = performance.now()
  try {
    await dialSeed(a, { multiaddr: multiaddr(`/ip4/127.0.0.1/tcp/${port}`) }, { retries: 0, dialTimeoutMs: 7500 })
    assert.unreachable('the tarpit never completes a handshake')
  } catch (err) {
    assert.instance(err, DialSeedError)
    const waited = performance.now() - started
    assert.ok(waited >= 7300 && waited < 12_000, `the attempt lasted ${Math.round(waited)} ms, expected ~7500`)
  } finally {
    for (const s of held) s.destroy()
    tarpit.close()
    await stopNodes([a])
  }
})

test('dialSeed stops at its time budget, cutting the last attempt to what is left', async () => {
  let clock = 0
  const timeouts: number[] = []
  // A busy seed: every attempt runs into its own timeout (in real time); the budget's
  // virtual clock then advances by what the attempt waited, and by each backoff slept.
  const busy = {
    dial: async (_addr: unknown, opts?: { signal?: AbortSignal }): Promise<never> => {
      const started = performance.now()
      await new Promise<void>(resolve => opts?.signal?.addEventListener('abort', () => { resolve() }, { once: true }))
      timeouts.push(Math.round(performance.now() - started))
      clock += timeouts[timeouts.length - 1]
      throw Object.assign(new Error('timed out'), { name: 'TimeoutError' })
    }
  }
  const keepAlive = setInterval(() => {}, 1000)
  try {
    const err = await dialSeed(busy as unknown as Parameters<typeof dialSeed>[0], { multiaddr: multiaddr('/ip4/127.0.0.1/tcp/1') }, {
      retries: 10, dialTimeoutMs: 40, budgetMs: 250, now: () => clock, sleep: async (ms) => { clock += ms }, random: () => 0
    }).then(() => undefined, (e: unknown) => e)
    assert.instance(err, DialSeedError)
    assert.is((err as DialSeedError).code, 'seed-unreachable')
    // 40, 80, 160 ms with backoffs of 100 and 200 ms in between: 40+100+80+200 = 420 > 250,
    // so the second attempt is the last, and no third starts past the budget.
    assert.ok(timeouts.length >= 2 && timeouts.length <= 3, `attempts ${JSON.stringify(timeouts)}`)
    assert.ok(clock <= 250 + 60, `spent ${clock} ms of virtual time on a 250 ms budget`)
    assert.match((err as Error).message, new RegExp(`after ${timeouts.length} attempts`))
  } finally { clearInterval(keepAlive) }
})

test('dialSeed with a fractional clock cuts the last attempt to a whole number of ms (a fractional timeout threw a RangeError and failed the join)', async () => {
  let clock = 0.25
  const waited: number[] = []
  const busy = {
    dial: async (_addr: unknown, opts?: { signal?: AbortSignal }): Promise<never> => {
      await new Promise<void>(resolve => opts?.signal?.addEventListener('abort', () => { resolve() }, { once: true }))
      waited.push(1)
      clock += 30.5
      throw Object.assign(new Error('timed out'), { name: 'TimeoutError' })
    }
  }
  const keepAlive = setInterval(() => {}, 1000)
  try {
    const err = await dialSeed(busy as unknown as Parameters<typeof dialSeed>[0], { multiaddr: multiaddr('/ip4/127.0.0.1/tcp/1') }, {
      retries: 5, dialTimeoutMs: 30, backoffMs: 5, budgetMs: 100.6, now: () => clock, sleep: async (ms) => { clock += ms + 0.37 }, random: () => 0
    }).then(() => undefined, (e: unknown) => e)
    assert.instance(err, DialSeedError, String(err))
    assert.is((err as DialSeedError).code, 'seed-unreachable')
    assert.ok(waited.length >= 3, `the budget's last, cut attempt ran too (${waited.length} attempts)`)
  } finally { clearInterval(keepAlive) }
})

test('dialSeed gives up on an address where nothing listens after unreachableRetries, however many retries it may take', async () => {
  const [a] = await startLocalNodes(1, 'tcp')
  // A port nobody listens on: bind, note the port, close.
  const probe = createServer()
  await new Promise<void>(resolve => probe.listen(0, '127.0.0.1', resolve))
  const port = (probe.address() as { port: number }).port
  await new Promise<void>(resolve => probe.close(() => { resolve() }))
  const failed: number[] = []
  try {
    const err = await dialSeed(a, { multiaddr: multiaddr(`/ip4/127.0.0.1/tcp/${port}`) }, {
      retries: 10, unreachableRetries: 2, dialTimeoutMs: 2000, sleep: async () => {}, onAttemptFailed: (n) => failed.push(n)
    }).then(() => undefined, (e: unknown) => e)
    assert.instance(err, DialSeedError)
    assert.equal(failed, [1, 2, 3], 'three refusals, then no more attempts')
  } finally { await stopNodes([a]) }
})

test('seedOrder: --join seeds are tried from a random one on, each seed first for some draw, the rest in order', () => {
  const seeds = ['a', 'b', 'c', 'd']
  assert.equal(seedOrder(seeds, () => 0), ['a', 'b', 'c', 'd'])
  assert.equal(seedOrder(seeds, () => 0.5), ['c', 'd', 'a', 'b'])
  assert.equal(seedOrder(seeds, () => 0.999999), ['d', 'a', 'b', 'c'])
  assert.equal(seedOrder(seeds, () => 1), ['d', 'a', 'b', 'c'], 'a random source at its bound still picks a seed')
  assert.equal(seedOrder([], () => 0.3), [])
  const firsts = new Set<string>()
  for (let i = 0; i < 40; i++) firsts.add(seedOrder(seeds, () => i / 40)[0])
  assert.equal([...firsts].sort(), seeds)
  assert.equal(seeds, ['a', 'b', 'c', 'd'], 'the given list is not changed')
})

test(`a node handshakes at most ${MAX_INCOMING_PENDING} inbound connections at once and refuses more at accept`, async () => {
  const [seed, joiner] = await startLocalNodes(2, 'tcp')
  const addr = seed.getMultiaddrs()[0]
  const port = Number(addr.toString().split('/')[4])
  // Connections that never say anything hold the seed's handshake slots.
  const silent: Socket[] = []
  try {
    for (let i = 0; i < MAX_INCOMING_PENDING; i++) {
      silent.push(await new Promise<Socket>((resolve, reject) => { const c = connect(port, '127.0.0.1', () => { resolve(c) }); c.once('error', reject) }))
    }
    await new Promise(resolve => setTimeout(resolve, 200)) // accepted by the seed
    const started = performance.now()
    const refused = await joiner.dial(addr, { signal: AbortSignal.timeout(5000) }).then(() => false, () => true)
    const took = performance.now() - started
    assert.ok(refused, 'the dial while every slot is taken fails')
    assert.ok(took < 2000, `and fails at once (${Math.round(took)} ms), not at a timeout`)
    for (const c of silent) c.destroy()
    silent.length = 0
    await new Promise(resolve => setTimeout(resolve, 200))
    const conn = await joiner.dial(addr, { signal: AbortSignal.timeout(5000) })
    assert.is(conn.remotePeer.toString(), seed.peerId.toString(), 'with the slots free the same dial succeeds')
  } finally {
    for (const c of silent) c.destroy()
    await stopNodes([seed, joiner])
  }
})

test.run()
