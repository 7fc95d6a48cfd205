import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { dialDirections, JoinWave, planSampling, PeerSampler, RecentMembers, type SampleMember, type SamplerNode, type SamplingInput } from '../agent/net/peer-sampler.js'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { startLocalNodes, stopNodes } from '../agent/net/local-cluster.js'

function seeded (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
}

const members = (n: number): SampleMember[] => Array.from({ length: n }, (_, i) => ({ id: `p${String(i).padStart(2, '0')}`, addrs: [`/memory/p${i}`] }))

const base = (over: Partial<SamplingInput>): SamplingInput => ({
  self: 'p00', connected: [], dialing: [], ours: [], candidates: members(30), min: 6, max: 10, maxConcurrentDials: 10, rotate: false, random: seeded(1), ...over
})

test('dials up to min, never itself, never twice, skips members without addresses or in backoff', () => {
  for (let seed = 1; seed <= 50; seed++) {
    const cands = [...members(30), { id: 'p05', addrs: ['/memory/dup'] }, { id: 'p40', addrs: [] }]
    const plan = planSampling(base({ connected: ['p01', 'p01'], dialing: ['p02'], candidates: cands, avoid: new Set(['p03']), random: seeded(seed) }))
    const ids = plan.dial.map(m => m.id)
    assert.is(ids.length, 6 - 2, `seed ${seed}`)
    assert.is(new Set(ids).size, ids.length)
    for (const bad of ['p00', 'p01', 'p02', 'p03', 'p40']) assert.not.ok(ids.includes(bad), `${bad} dialled (seed ${seed})`)
    assert.equal(plan.close, [])
  }
})

test('dial count respects the concurrent dial limit and the candidates available', () => {
  assert.is(planSampling(base({ maxConcurrentDials: 3, dialing: ['p01'] })).dial.length, 2)
  assert.is(planSampling(base({ candidates: members(4) })).dial.length, 3)
  assert.is(planSampling(base({ candidates: [{ id: 'p00', addrs: ['/memory/x'] }] })).dial.length, 0)
})

test('the sample is random: different seeds pick different members', () => {
  const picks = new Set<string>()
  for (let seed = 1; seed <= 20; seed++) for (const m of planSampling(base({ random: seeded(seed) })).dial) picks.add(m.id)
  assert.ok(picks.size > 15, `only ${picks.size} distinct members ever picked`)
})

test('above max only our own connections are closed, down to max', () => {
  const connected = members(14).slice(1).map(m => m.id) // 13 peers
  const plan = planSampling(base({ connected, ours: ['p01', 'p02', 'p03', 'p04', 'p05', 'p99'] }))
  assert.is(plan.close.length, 3)
  for (const id of plan.close) assert.ok(['p01', 'p02', 'p03', 'p04', 'p05'].includes(id))
  assert.equal(plan.dial, [])
  // Inbound-only excess is left alone.
  assert.equal(planSampling(base({ connected, ours: [] })).close, [])
})

test('rotation swaps one of ours for a fresh member only when allowed and within bounds', () => {
  const connected = ['p01', 'p02', 'p03', 'p04', 'p05', 'p06', 'p07']
  assert.equal(planSampling(base({ connected, ours: ['p01'] })), { dial: [], close: [] })
  const plan = planSampling(base({ connected, ours: ['p01', 'p02'], rotate: true }))
  assert.is(plan.dial.length, 1)
  assert.ok(!connected.includes(plan.dial[0].id) && plan.dial[0].id !== 'p00')
  assert.is(plan.close.length, 1)
  assert.ok(['p01', 'p02'].includes(plan.close[0]))
  assert.equal(planSampling(base({ connected, ours: [], rotate: true })), { dial: [], close: [] })
})

test('probe targets are dialled first, whatever min says, within the dial slots', () => {
  // Already at min: only the preferred members are dialled, in the given order.
  const connected = ['p01', 'p02', 'p03', 'p04', 'p05', 'p06']
  const plan = planSampling(base({ connected, preferred: ['p09', 'p03', 'p08', 'p99'], maxConcurrentDials: 10 }))
  assert.equal(plan.dial.map(m => m.id), ['p09', 'p08'], 'connected and unknown ones are skipped')
  // Below min: preferred first, then random members up to min.
  const low = planSampling(base({ connected: ['p01'], preferred: ['p07'], maxConcurrentDials: 10 }))
  assert.is(low.dial[0].id, 'p07')
  assert.is(low.dial.length, 5)
  assert.is(new Set(low.dial.map(m => m.id)).size, 5)
  // The slots bound everything.
  assert.equal(planSampling(base({ connected: [], preferred: ['p07', 'p08', 'p09'], maxConcurrentDials: 2 })).dial.map(m => m.id), ['p07', 'p08'])
  // Members in backoff are not preferred either.
  assert.equal(planSampling(base({ connected, preferred: ['p09'], avoid: new Set(['p09']) })).dial, [])
})

test('kept connections (ring neighbours, young ones) are never closed, by the cap or by rotation', () => {
  const connected = members(14).slice(1).map(m => m.id) // 13 peers, max 10
  const ours = ['p01', 'p02', 'p03', 'p04', 'p05']
  const plan = planSampling(base({ connected, ours, keep: ['p01', 'p02', 'p03', 'p04'] }))
  assert.equal(plan.close, ['p05'], 'only the one not kept goes, even though 3 are over max')
  assert.equal(planSampling(base({ connected: connected.slice(0, 7), ours: ['p01'], keep: ['p01'], rotate: true })), { dial: [], close: [] })
  const rot = planSampling(base({ connected: connected.slice(0, 7), ours: ['p01', 'p02'], keep: ['p01'], rotate: true }))
  assert.equal(rot.close, ['p02'])
  assert.is(rot.rotated, true)
})

test('mutual ring neighbours: only the lower id dials, so a pair handshakes once', () => {
  // Small cluster: everyone observes everyone.
  const ids = ['p1', 'p2', 'p3', 'p4']
  const plans = new Map(ids.map(self => {
    const others = ids.filter(id => id !== self)
    return [self, dialDirections(self, others, others)]
  }))
  for (const a of ids) {
    for (const b of ids) {
      if (a >= b) continue
      const aDials = plans.get(a)?.dial.includes(b) === true
      const bDials = plans.get(b)?.dial.includes(a) === true
      assert.ok(aDials && !bDials, `${a}–${b}: exactly the lower id dials`)
      assert.ok(plans.get(b)?.awaited.includes(a), `${b} awaits ${a}`)
    }
  }
  // One-way neighbours are dialled by their observer, whatever the ids.
  assert.equal(dialDirections('p9', ['p1', 'p5'], ['p7']), { dial: ['p1', 'p5'], awaited: [] })
})

test('live: 10 nodes joined through one seed reach at least min connections each', async () => {
  const nodes = await startLocalNodes(10, 'memory')
  try {
    const [seed, ...rest] = nodes
    await Promise.all(rest.map(async n => await n.dial(seed.getMultiaddrs()[0])))
    const roster: SampleMember[] = nodes.map(n => ({ id: n.peerId.toString(), addrs: n.getMultiaddrs().map(a => a.toString()) }))
    const failures: string[] = []
    const samplers = nodes.map((n, i) => new PeerSampler(n, { members: () => roster, min: 6, max: 10, random: seeded(i + 1), onDialFailed: (id) => failures.push(id) }))
    const peersOf = (i: number): number => new Set(nodes[i].getConnections().map(c => c.remotePeer.toString())).size
    const deadline = Date.now() + 8000
    while (!nodes.every((_, i) => peersOf(i) >= 6)) {
      assert.ok(Date.now() < deadline, `timed out: ${nodes.map((_, i) => peersOf(i)).join(',')}`)
      for (const s of samplers) s.tick()
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    assert.equal(failures, [])
    for (const [i, n] of nodes.entries()) {
      assert.not.ok(n.getConnections().some(c => c.remotePeer.equals(n.peerId)), 'connected to itself')
      assert.ok(peersOf(i) <= 9)
    }
    samplers.forEach(s => s.stop())
  } finally { await stopNodes(nodes) }
})

test('live: a dead member is reported through onDialFailed and not retried at once', async () => {
  const nodes = await startLocalNodes(2, 'memory')
  try {
    const [a, b] = nodes
    const bInfo = { id: b.peerId.toString(), addrs: b.getMultiaddrs().map(x => x.toString()) }
    await b.stop()
    const failures: string[] = []
    const sampler = new PeerSampler(a, { members: () => [bInfo], min: 1, failureBackoffTicks: 3, dialTimeoutMs: 1000, onDialFailed: (id) => failures.push(id) })
    assert.is(sampler.tick().dial.length, 1)
    const deadline = Date.now() + 3000
    while (failures.length === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
    assert.equal(failures, [bInfo.id])
    assert.is(sampler.tick().dial.length, 0, 'in backoff')
    assert.is(sampler.tick().dial.length, 0, 'in backoff')
    assert.is(sampler.tick().dial.length, 1, 'backoff over')
  } finally { await stopNodes(nodes) }
})

test('live: the dialler owns a connection: over the cap, connections this node dialled in passing are closed, inbound ones never', async () => {
  const nodes = await startLocalNodes(9, 'memory')
  try {
    const [self, ...others] = nodes
    const inbound = others.slice(0, 4)
    const outbound = others.slice(4)
    // Dials made outside the sampler (a join, a push-pull partner) in both directions.
    await Promise.all(inbound.map(async n => await n.dial(self.getMultiaddrs()[0])))
    await Promise.all(outbound.map(async n => await self.dial(n.getMultiaddrs()[0])))
    const peers = (): string[] => [...new Set(self.getConnections().filter(c => c.status === 'open').map(c => c.remotePeer.toString()))].sort()
    assert.is(peers().length, 8)
    const sampler = new PeerSampler(self, { members: () => [], min: 0, max: 2, minConnectionAgeMs: 0, random: seeded(3) })
    const plan = sampler.tick()
    assert.equal([...plan.close].sort(), outbound.map(n => n.peerId.toString()).sort())
    const deadline = Date.now() + 3000
    while (peers().length > 4 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
    assert.equal(peers(), inbound.map(n => n.peerId.toString()).sort())
    // Young connections are kept whoever dialled them.
    const fresh = await self.dial(outbound[0].getMultiaddrs()[0])
    const patient = new PeerSampler(self, { members: () => [], min: 0, max: 2, random: seeded(4) })
    assert.equal(patient.tick().close, [])
    assert.is(fresh.status, 'open')
    sampler.stop(); patient.stop()
  } finally { await stopNodes(nodes) }
})

test('RecentMembers holds a member for holdMs from when it was added, then forgets it; 0 holds nobody', () => {
  const recent = new RecentMembers(400)
  recent.add('a', 1000)
  assert.ok(recent.held('a', 1000))
  assert.ok(recent.held('a', 1399))
  assert.not.ok(recent.held('b', 1000))
  assert.not.ok(recent.held('a', 1400))
  assert.is(recent.size, 0)
  recent.add('a', 2000); recent.delete('a')
  assert.not.ok(recent.held('a', 2001))
  const off = new RecentMembers(0)
  off.add('a', 1000)
  assert.not.ok(off.held('a', 1000))
  for (const bad of [-1, Number.NaN, Infinity]) assert.throws(() => new RecentMembers(bad), /non-negative/)
})

test('the sampler leaves a just-learned member undialled, even one it probes, until the hold-off ends', async () => {
  const ids = await Promise.all([0, 1, 2].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
  const [self, fresh, old] = ids
  const dialled: string[] = []
  const node: SamplerNode = {
    peerId: peerIdFromString(self),
    getConnections: () => [],
    dial: async (peer) => { dialled.push(peer.toString()); throw new Error('not a real node') },
    hangUp: async () => {},
    peerStore: { merge: async () => undefined }
  }
  let now = 10_000
  const recent = new RecentMembers(400)
  recent.add(fresh, now)
  const roster = [fresh, old].map(id => ({ id, addrs: ['/ip4/127.0.0.1/tcp/1'] }))
  const sampler = new PeerSampler(node, { members: () => roster, ring: () => ({ observes: [fresh, old], neighbours: [] }), recent, now: () => now, min: 6, failureBackoffTicks: 100 })
  const first = sampler.tick()
  assert.equal(first.dial.map(m => m.id), [old])
  now += 399
  assert.equal(sampler.tick().dial, [])
  now += 1
  assert.equal(sampler.tick().dial.map(m => m.id), [fresh])
  // Let the (failing) dials run to completion before checking what reached the node.
  for (let i = 0; i < 50 && dialled.length < 2; i++) await new Promise(resolve => setImmediate(resolve))
  assert.equal(dialled, [old, fresh])
  sampler.stop()
})

test('JoinWave: holds from a join after a quiet spell while joins come less than quietMs apart (at most maxMs), then ramps up one per rampMs', () => {
  const wave = new JoinWave({ quietMs: 2000, maxMs: 10_000, hold: 2, rampMs: 1000 })
  assert.is(wave.dialCap(0), Infinity, 'no join yet')
  wave.note(1000)
  assert.is(wave.dialCap(1000), 2)
  assert.is(wave.dialCap(2999), 2)
  assert.is(wave.dialCap(3000), 3, 'quiet for quietMs: the ramp begins')
  assert.is(wave.dialCap(3999), 3)
  assert.is(wave.dialCap(4000), 4)
  assert.is(wave.dialCap(8000), 8)
  // Joins every second: the hold lasts, but no longer than maxMs from its first join.
  for (let t = 20_000; t <= 40_000; t += 1000) wave.note(t)
  assert.is(wave.dialCap(29_999), 2)
  assert.is(wave.dialCap(30_000), 3, 'maxMs after it began')
  assert.is(wave.dialCap(32_500), 5)
  // A quiet spell ends it; the next join begins a new one.
  wave.note(50_000)
  assert.is(wave.dialCap(50_500), 2)
  for (const bad of [{ quietMs: -1 }, { maxMs: Number.NaN }, { hold: Infinity }, { rampMs: 0 }, { firstStepMs: -5 }, { firstStepMs: Infinity }]) {
    assert.throws(() => new JoinWave({ quietMs: 2000, maxMs: 10_000, hold: 2, rampMs: 1000, ...bad }), /join wave needs/)
  }
})

test('JoinWave: settling from a join until the ramp after the wave allows n connections (the wave itself at most maxMs)', () => {
  const wave = new JoinWave({ quietMs: 2000, maxMs: 10_000, hold: 0, rampMs: 1000, firstStepMs: 700 })
  assert.is(wave.settling(0, 3), false, 'no join yet')
  wave.note(1000)
  assert.is(wave.dialCap(1000), 0, 'hold 0: no dial while the wave lasts')
  assert.is(wave.settling(1000, 3), true)
  assert.is(wave.settling(3699, 3), true, 'quiet since 3000, but the first step comes at 3700')
  assert.is(wave.dialCap(3700), 1)
  assert.is(wave.settling(5699, 3), true)
  assert.is(wave.settling(5700, 3), false, 'the third connection allowed')
  assert.is(wave.settling(4700, 2), false, 'a smaller n ends sooner')
  for (let t = 20_000; t <= 40_000; t += 1000) wave.note(t)
  assert.is(wave.settling(32_699, 3), true)
  assert.is(wave.settling(32_700, 3), false, 'maxMs after it began, though joins still come')
  wave.note(50_000)
  assert.is(wave.settling(50_001, 3), true, 'a join after a quiet spell starts a new one')
})

test('JoinWave: firstStepMs puts the first extra connection (and so the wave-end push-pull) that long after the wave, then one per rampMs', () => {
  const wave = new JoinWave({ quietMs: 2000, maxMs: 10_000, hold: 2, rampMs: 1000, firstStepMs: 700 })
  wave.note(1000)
  assert.is(wave.dialCap(3000), 2, 'the wave is over, but this node\'s first step is 700 ms later')
  assert.is(wave.dialCap(3699), 2)
  assert.is(wave.dialCap(3700), 3)
  assert.is(wave.dialCap(4699), 3)
  assert.is(wave.dialCap(4700), 4)
})

test('dialCap: while it is below min the sampler dials only up to it and closes nothing; afterwards up to min', async () => {
  const ids = await Promise.all(Array.from({ length: 9 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
  const [self, ...others] = ids
  const node: SamplerNode = {
    peerId: peerIdFromString(self),
    // One connection already (the seed this node joined through).
    getConnections: () => [{ status: 'open', remotePeer: peerIdFromString(others[0]), direction: 'outbound', timeline: { open: 0 } } as unknown as ReturnType<SamplerNode['getConnections']>[number]],
    dial: async () => { throw new Error('not a real node') },
    hangUp: async () => {},
    peerStore: { merge: async () => undefined }
  }
  let cap = 2
  const roster = others.map(id => ({ id, addrs: ['/ip4/127.0.0.1/tcp/1'] }))
  const sampler = new PeerSampler(node, { members: () => roster, min: 6, max: 10, maxConcurrentDials: 10, rotateEveryTicks: 0, failureBackoffTicks: 100, dialCap: () => cap })
  const held = sampler.tick()
  assert.is(held.dial.length, 1, 'up to two connections: the seed and one more')
  assert.equal(held.close, [])
  // Let the failing dial finish so it no longer counts as in flight.
  for (let i = 0; i < 50 && sampler.stats.dialFailures < 1; i++) await new Promise(resolve => setImmediate(resolve))
  cap = Infinity
  const after = sampler.tick()
  assert.is(after.dial.length, 5, 'the wave is over: up to min')
  assert.ok(after.dial.every(m => m.id !== held.dial[0].id), 'not the one that just failed')
  sampler.stop()
})

test.run()
