// Digest repair: acks carry the responder's checksum, and a prober whose view and
// the responder's stood still apart push-pulls with it (protocol/membership/digest-repair.ts).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createMembership, liveDigest, membershipChecksum, type GossipMessage, type MemberEntry, type Membership, type MembershipConfig, type Outgoing } from '../protocol/membership/index.js'
import { DigestRepair } from '../protocol/membership/digest-repair.js'
import { createPrng } from './sim/prng.js'

const A = '0000000000000001'
const B = '0000000000000002'

test('a difference counts once both sides stood still for settleMs, then at most once per minIntervalMs', () => {
  const d = new DigestRepair({ settleMs: 1000, minIntervalMs: 2000 })
  d.changed(0)
  assert.is(d.observe('p', A, B, 500), false, 'first sight of the difference')
  assert.is(d.observe('p', A, B, 1200), false, 'the peer has reported it for 700 ms only')
  assert.is(d.observe('p', A, B, 1500), true, 'both unchanged for 1000 ms')
  assert.is(d.observe('p', A, B, 1600), false, 'the next one must stand still again')
  assert.is(d.observe('p', A, B, 2700), false, 'stood still, but within minIntervalMs of the last repair')
  assert.is(d.observe('p', A, B, 3500), true)
  assert.is(d.repairs, 2)
})

test('our own change, the peer\'s change or agreement start the wait again', () => {
  const d = new DigestRepair({ settleMs: 1000, minIntervalMs: 1 })
  d.observe('p', A, B, 0)
  d.changed(900)
  assert.is(d.observe('p', A, B, 1500), false, 'our view changed 600 ms ago')
  assert.is(d.observe('p', A, B, 1900), true)
  d.observe('p', A, B, 2000)
  assert.is(d.observe('p', A, '0000000000000003', 3500), false, 'the peer reports another checksum: a new wait')
  assert.is(d.observe('p', A, '0000000000000003', 4500), true)
  d.observe('p', A, B, 5000)
  assert.is(d.observe('p', A, A, 5500), false, 'agreement')
  assert.is(d.observe('p', A, B, 6500), false, 'a difference after agreement is new')
  assert.is(d.observe('q', A, undefined, 9000), false, 'an ack without a checksum says nothing')
})

test('settleMs 0 disables it; peers are told apart', () => {
  const off = new DigestRepair({ settleMs: 0, minIntervalMs: 1 })
  off.observe('p', A, B, 0)
  assert.is(off.observe('p', A, B, 10_000), false)
  const d = new DigestRepair({ settleMs: 100, minIntervalMs: 1 })
  d.observe('p', A, B, 0)
  assert.is(d.observe('q', A, B, 200), false, 'q was not seen before')
  assert.is(d.observe('p', A, B, 200), true)
  d.observe('r', A, B, 300)
  d.forget('r')
  assert.is(d.observe('r', A, B, 500), false, 'forgotten')
})

test('the live digest covers alive and suspect members with their incarnations, not dead or left ones', () => {
  const entry = (id: string, incarnation: number, status: MemberEntry['status']): MemberEntry => ({ id, incarnation, status, addrs: [], meta: new Uint8Array() })
  const base = [entry('a', 1, 'alive'), entry('b', 0, 'alive')]
  const d = liveDigest(base)
  assert.match(d, /^[0-9a-f]{16}$/)
  assert.is(liveDigest([...base].reverse()), d, 'order does not matter')
  assert.is(liveDigest([entry('a', 1, 'alive'), entry('b', 0, 'suspect')]), d, 'a suspicion is for probes to settle')
  assert.is(liveDigest([...base, entry('x', 3, 'dead'), entry('y', 0, 'left')]), d, 'dead and left entries are reaped at different times')
  assert.is.not(liveDigest([entry('a', 2, 'alive'), entry('b', 0, 'alive')]), d, 'an incarnation')
  assert.is.not(liveDigest([entry('a', 1, 'alive')]), d, 'a missing member')
  assert.is.not(liveDigest([entry('a', 1, 'alive'), entry('b', 0, 'dead')]), d, 'a member dead here, alive there')
  assert.is.not(membershipChecksum([...base, entry('x', 3, 'dead')]), membershipChecksum(base), 'the convergence checksum still counts them')
})

function core (id: string, config: Partial<MembershipConfig> = {}): Membership {
  return createMembership({
    self: { id, addrs: [`/memory/${id}`], meta: new Uint8Array([1]) },
    config: { probeGraceAfterAlive: 0, pushPullInterval: 600_000, deadReconnectInterval: 600_000, ...config },
    random: createPrng(7),
    now: 0
  })
}

function alive (id: string, incarnation = 0): GossipMessage {
  return { type: 'alive', id, incarnation, addrs: [`/memory/${id}`], meta: new Uint8Array([2]), from: id }
}

/**
 * Runs the cores against each other until `until`: every message between them is
 * delivered at once, and messages to anyone else are dropped. Returns the
 * push-pull requests sent, as [from, to].
 */
function exchange (cores: Membership[], from: number, until: number): Array<[string, string]> {
  const pushPulls: Array<[string, string]> = []
  const nodes = new Map(cores.map(m => [m.id, m]))
  let now = from
  for (let i = 0; i < 10_000; i++) {
    const next = Math.min(...cores.map(m => m.nextDeadline()))
    if (next > until) break
    now = Math.max(now, next)
    for (const m of cores) m.tick(now)
    // Deliver until all are quiet: answers come back within the same instant.
    for (let round = 0; round < 20 && cores.some(m => m.hasReady()); round++) {
      for (const [id, m] of nodes) {
        for (const s of m.ready().send) {
          if (s.msg.type === 'push-pull' && !s.msg.reply) pushPulls.push([id, s.to])
          nodes.get(s.to)?.receive(id, s.msg, now)
        }
      }
    }
  }
  return pushPulls
}

function knows (m: Membership, ...ids: string[]): void {
  m.ready()
  for (const id of ids) if (id !== m.id) m.receive(id, alive(id), 0)
}

test('members that missed updates are repaired by probes, without waiting for anti-entropy', () => {
  // a heard of everyone; b missed c's alive and c missed b's (gossip lost for good).
  const [a, b, c] = ['a', 'b', 'c'].map(id => core(id))
  knows(a, 'b', 'c')
  knows(b, 'a')
  knows(c, 'a')
  assert.is.not(a.checksum(), b.checksum())
  const pushPulls = exchange([a, b, c], 0, 6000)
  assert.is(b.get('c')?.status, 'alive', 'b learned c')
  assert.is(c.get('b')?.status, 'alive', 'c learned b')
  assert.is(a.checksum(), b.checksum())
  assert.is(a.checksum(), c.checksum())
  // Only digest repair push-pulled (the periodic one is 10 minutes away), once per straggler or so.
  const repairs = a.digestRepairs() + b.digestRepairs() + c.digestRepairs()
  assert.is(pushPulls.length, repairs)
  assert.ok(repairs >= 2 && repairs <= 4, `${repairs} repairs`)
})

test('no repair while the views still move, and none when disabled', () => {
  const moving = core('a')
  const b = core('b')
  for (const m of [moving, b]) m.ready()
  moving.receive('b', alive('b'), 0)
  b.receive('a', alive('a'), 0)
  let pushPulls = 0
  // A new member every 500 ms keeps a's view from standing still for 1 s.
  for (let t = 0; t < 5000; t += 500) {
    moving.receive(`n${t}`, alive(`n${t}`), t)
    pushPulls += exchange([moving, b], t, t + 499).length
  }
  assert.is(pushPulls, 0)
  assert.is(moving.digestRepairs(), 0)
  const off = core('a', { digestSettle: 0 })
  const b2 = core('b', { digestSettle: 0 })
  for (const m of [off, b2]) m.ready()
  off.receive('b', alive('b'), 0)
  b2.receive('a', alive('a'), 0)
  off.receive('c', alive('c'), 0)
  const c2 = core('c', { digestSettle: 0 })
  knows(c2, 'a')
  assert.is(exchange([off, b2, c2], 0, 5000).length, 0)
  assert.is(b2.get('c'), undefined)
})

test('its settings are validated', () => {
  assert.throws(() => core('a', { digestSettle: -1 }), /digestSettle/)
  assert.throws(() => core('a', { digestSettle: Number.NaN }), /digestSettle/)
  assert.throws(() => core('a', { digestRepairInterval: 0 }), /digestRepairInterval/)
})

test.run()
