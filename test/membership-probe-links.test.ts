// The prober and the shell's connections: a member still being dialled is passed
// over (bounded by probeDeferLimit), and a new suspicion is confirmed by the
// suspect's other ring observers, not by random members that would first have to
// dial it. A member just heard alive at a new incarnation (joined, refuted) is left
// alone for probeGraceAfterAlive.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createMembership, type GossipMessage, type Membership, type MembershipConfig } from '../protocol/membership/index.js'
import { ringNeighbours } from '../protocol/membership/observers.js'
import { createPrng } from './sim/prng.js'
import { driveDeadlines } from './helpers/membership-drive.js'

function core (id: string, opts: { config?: Partial<MembershipConfig>, linkPending?: (id: string) => boolean, seed?: number } = {}): Membership {
  return createMembership({
    self: { id, addrs: [`/memory/${id}`], meta: new Uint8Array([1]) },
    // Members are probed right after they are heard of unless a test sets the grace.
    config: { probeGraceAfterAlive: 0, ...opts.config },
    random: createPrng(opts.seed ?? 3),
    now: 0,
    ...(opts.linkPending !== undefined ? { linkPending: opts.linkPending } : {})
  })
}

function alive (id: string, incarnation = 0): GossipMessage {
  return { type: 'alive', id, incarnation, addrs: [`/memory/${id}`], meta: new Uint8Array([2]), from: id }
}

/** Runs `m` to `until`, acking every ping at once; returns the pings' targets with their times. */
function pingsUntil (m: Membership, from: number, until: number): Array<{ to: string, at: number }> {
  const out: Array<{ to: string, at: number }> = []
  driveDeadlines(m, from, until, (r, now) => {
    for (const s of r.send) {
      if (s.msg.type !== 'ping') continue
      out.push({ to: s.to, at: now })
      m.receive(s.to, { type: 'ack', seq: s.msg.seq }, now)
      m.ready()
    }
  })
  return out
}

test('a member being dialled is passed over, then probed once the dial is done', () => {
  const pending = new Set(['b'])
  const a = core('a', { linkPending: id => pending.has(id) })
  for (const id of ['b', 'c', 'd']) a.receive(id, alive(id), 0)
  a.ready()
  const early = pingsUntil(a, 0, 1000)
  assert.ok(early.length >= 4, `probes went on meanwhile (${early.length})`)
  assert.ok(early.every(p => p.to !== 'b'), 'no probe timed b\'s handshake')
  pending.clear()
  const later = pingsUntil(a, 1000, 1700)
  assert.ok(later.some(p => p.to === 'b'), 'b keeps its turn in the round once connected')
})

test('a member whose dial never finishes is probed after probeDeferLimit, so it can still be suspected', () => {
  const a = core('a', { linkPending: id => id === 'b', config: { probeDeferLimit: 1000 } })
  for (const id of ['b', 'c']) a.receive(id, alive(id), 0)
  a.ready()
  const pings = pingsUntil(a, 0, 3600)
  const first = pings.find(p => p.to === 'b')
  assert.ok(first !== undefined, 'b was probed')
  assert.ok(first.at >= 1000 && first.at <= 1600, `first probe of b at ${first.at} ms, after the 1000 ms limit`)
  // Each wait is bounded: a member stuck dialling is still probed every limit or so.
  assert.ok(pings.filter(p => p.to === 'b').length >= 2, 'probed again after the next wait')
})

test('without a linkPending hook every member is probed as before', () => {
  const a = core('a')
  for (const id of ['b', 'c']) a.receive(id, alive(id), 0)
  a.ready()
  const targets = new Set(pingsUntil(a, 0, 1000).map(p => p.to))
  assert.equal([...targets].sort(), ['b', 'c'])
})

test('a new suspicion is probed next by the suspect\'s observers only', () => {
  const ids = Array.from({ length: 12 }, (_, i) => `12D3KooWnode${String(i).padStart(2, '0')}`)
  const k = 3
  const suspect = ids[5]
  const observers = ids.filter(id => id !== suspect && ringNeighbours(id, ids, k).successors.includes(suspect))
  const others = ids.filter(id => id !== suspect && !observers.includes(id))
  assert.is(observers.length, k)
  const accuser = observers[0]
  const nextPing = (self: string): string | undefined => {
    const m = core(self, { config: { probeObservers: k } })
    for (const id of ids) if (id !== self) m.receive(id, alive(id), 0)
    m.ready()
    m.receive(accuser, { type: 'suspect', id: suspect, incarnation: 0, from: accuser }, 1)
    m.ready()
    return pingsUntil(m, 1, 400)[0]?.to
  }
  for (const o of observers.slice(1)) assert.is(nextPing(o), suspect, `observer ${o} confirms`)
  for (const z of others) assert.is.not(nextPing(z), suspect, `${z} does not observe the suspect and leaves it alone`)
})

test('probing everyone (probeObservers 0): a new suspicion is probed next at random, as in SWIM', () => {
  // n − 2 ≤ suspicionProbeFanout: every node that hears it probes the suspect next.
  const m = core('a', { config: { probeObservers: 0 } })
  for (const id of ['b', 'c', 'd']) m.receive(id, alive(id), 0)
  m.ready()
  m.receive('c', { type: 'suspect', id: 'b', incarnation: 0, from: 'c' }, 1)
  m.ready()
  assert.is(pingsUntil(m, 1, 400)[0]?.to, 'b')
})

test('a member that just joined is not probed for probeGraceAfterAlive, then is', () => {
  const a = core('a', { config: { probeGraceAfterAlive: 3000 } })
  a.receive('b', alive('b'), 0)
  a.ready()
  const pings = pingsUntil(a, 0, 6000).filter(p => p.to === 'b')
  assert.ok(pings.length > 0, 'probed after the grace')
  assert.ok(pings[0].at >= 3000, `first ping at ${pings[0].at}`)
  assert.ok(pings[0].at < 3000 + 2 * 200, `first ping at ${pings[0].at}, long after the grace`)
})

test('a member that refutes a suspicion gets the grace again; one merely re-announced at the same incarnation does not', () => {
  const a = core('a', { config: { probeGraceAfterAlive: 3000 } })
  a.receive('b', alive('b'), 0)
  a.ready()
  pingsUntil(a, 0, 5000)
  // Someone else suspects b; b refutes at once with a higher incarnation.
  a.receive('c', { type: 'suspect', id: 'b', incarnation: 0, from: 'c' }, 5000)
  a.receive('b', alive('b', 1), 5001)
  a.ready()
  assert.is(a.get('b')?.status, 'alive')
  const after = pingsUntil(a, 5001, 9000).filter(p => p.to === 'b')
  assert.ok(after.length > 0)
  assert.ok(after[0].at >= 8001, `pinged at ${after[0].at}, inside the grace`)
  // The same claim again is no news: probing goes on as usual.
  a.receive('b', alive('b', 1), 9000)
  a.ready()
  const again = pingsUntil(a, 9000, 9600).filter(p => p.to === 'b')
  assert.ok(again.length > 0, 'a repeated claim does not restart the grace')
})

test('a member that dies right after joining is still suspected, once the grace is over', () => {
  const a = core('a', { config: { probeGraceAfterAlive: 3000 } })
  a.receive('b', alive('b'), 0)
  a.receive('h', alive('h'), 0)
  a.ready()
  let suspectedAt: number | undefined
  driveDeadlines(a, 0, 8000, (r, now) => {
    for (const s of r.send) if (s.msg.type === 'ping' && s.to === 'h') { a.receive('h', { type: 'ack', seq: s.msg.seq }, now); a.ready() }
    if (suspectedAt === undefined && a.get('b')?.status === 'suspect') suspectedAt = now
  })
  assert.ok(suspectedAt !== undefined && suspectedAt >= 3000 && suspectedAt < 4000, `suspected at ${String(suspectedAt)}`)
})

test('probeGraceAfterAlive must be a non-negative number', () => {
  for (const bad of [-1, Number.NaN, Infinity]) assert.throws(() => core('a', { config: { probeGraceAfterAlive: bad } }), /probeGraceAfterAlive/)
  assert.not.throws(() => core('a', { config: { probeGraceAfterAlive: 0 } }))
})

test.run()
