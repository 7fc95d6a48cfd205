// Digest repair: acks carry the responder's checksum, and a prober whose view and
// the responder's stood still apart push-pulls with it (protocol/membership/digest-repair.ts).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createMembership, type GossipMessage, type Membership, type MembershipConfig, type Outgoing } from '../protocol/membership/index.js'
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
 * Runs `a` and `b` against each other until `until`: every message between them is
 * delivered at once, and messages to anyone else are dropped (the members other than
 * a and b exist only in views). Returns the push-pulls a sent to b.
 */
function exchange (a: Membership, b: Membership, from: number, until: number): Outgoing[] {
  const pushPulls: Outgoing[] = []
  const nodes = new Map([[a.id, a], [b.id, b]])
  let now = from
  for (let i = 0; i < 10_000; i++) {
    const next = Math.min(a.nextDeadline(), b.nextDeadline())
    if (next > until) break
    now = Math.max(now, next)
    a.tick(now)
    b.tick(now)
    // Deliver until both are quiet: answers come back within the same instant.
    for (let round = 0; round < 20 && (a.hasReady() || b.hasReady()); round++) {
      for (const [id, m] of nodes) {
        for (const s of m.ready().send) {
          if (id === a.id && s.to === b.id && s.msg.type === 'push-pull' && !s.msg.reply) pushPulls.push(s)
          nodes.get(s.to)?.receive(id, s.msg, now)
        }
      }
    }
  }
  return pushPulls
}

test('a member that missed an update is repaired by its observer\'s probe, without waiting for anti-entropy', () => {
  const a = core('a')
  const b = core('b')
  for (const m of [a, b]) m.ready()
  a.receive('b', alive('b'), 0)
  b.receive('a', alive('a'), 0)
  // Only a heard of c (b missed the gossip); c itself never answers here.
  a.receive('c', alive('c'), 0)
  assert.is.not(a.checksum(), b.checksum())
  const pushPulls = exchange(a, b, 0, 5000)
  assert.ok(pushPulls.length >= 1, 'a push-pulled with b')
  assert.is(b.get('c')?.incarnation, 0, 'b learned c from the push-pull')
  // The digest repair may also run the other way (b probing a); neither runs more than once.
  assert.ok(pushPulls.length <= 1, `one repair, not ${pushPulls.length}`)
  assert.is(a.digestRepairs(), 1, 'counted')
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
    pushPulls += exchange(moving, b, t, t + 499).length
  }
  assert.is(pushPulls, 0)
  assert.is(moving.digestRepairs(), 0)
  const off = core('a', { digestSettle: 0 })
  const b2 = core('b', { digestSettle: 0 })
  for (const m of [off, b2]) m.ready()
  off.receive('b', alive('b'), 0)
  b2.receive('a', alive('a'), 0)
  off.receive('c', alive('c'), 0)
  assert.is(exchange(off, b2, 0, 5000).length, 0)
  assert.is(b2.get('c'), undefined)
})

test.run()
