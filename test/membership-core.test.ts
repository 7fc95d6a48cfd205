// Scenario tests of one or a few membership cores fed by hand: probing, refutation,
// Lifeguard suspicion and awareness, leave / force-leave, reaping, restarts.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  carriesOwnIncarnation, createMembership, MembershipError, resolveConfig, splitForDurability, suspicionMinTimeout, type GossipMessage, type Membership, type MemberEntry, type MembershipConfig, type Outgoing, type Ready
} from '../protocol/membership/index.js'
import { createPrng } from './sim/prng.js'
import { driveDeadlines } from './helpers/membership-drive.js'

function core (id: string, opts: { now?: number, incarnation?: number, config?: Partial<MembershipConfig>, seed?: number } = {}): Membership {
  return createMembership({
    self: { id, addrs: [`/memory/${id}`], meta: new Uint8Array([1]) },
    incarnation: opts.incarnation,
    // Scenarios here probe members right after hearing of them; the grace after
    // an alive claim has its own tests (membership-probe-links).
    config: { probeGraceAfterAlive: 0, ...opts.config },
    random: createPrng(opts.seed ?? 11),
    now: opts.now ?? 0
  })
}

function alive (id: string, incarnation = 0): GossipMessage {
  return { type: 'alive', id, incarnation, addrs: [`/memory/${id}`], meta: new Uint8Array([2]), from: id }
}

/** Ticks `m` at its deadlines up to `until`, collecting everything it emits. */
function runTo (m: Membership, from: number, until: number): Ready[] {
  const out: Ready[] = []
  driveDeadlines(m, from, until, r => { out.push(r) })
  return out
}

const sends = (rs: Ready[]): Outgoing[] => rs.flatMap(r => r.send)
const publishes = (rs: Ready[]): GossipMessage[] => rs.flatMap(r => r.publish)

test('a new node starts at incarnation 0, asks to persist it and announces itself', () => {
  const m = core('a')
  const r = m.ready()
  assert.equal(r.persist, { incarnation: 0 })
  assert.equal(r.publish.map(p => [p.type, p.id, p.incarnation]), [['alive', 'a', 0]])
  assert.equal(r.events.map(e => [e.kind, e.member.id]), [['join', 'a']])
})

test('restart: the core starts one above the persisted incarnation, so it beats its old dead/left', () => {
  const m = core('a', { incarnation: 41 })
  assert.equal(m.ready().persist, { incarnation: 42 })
  assert.is(m.incarnation(), 42)
  const peer = core('b')
  peer.receive('a', alive('a', 41), 0)
  peer.receive('c', { type: 'left', id: 'a', incarnation: 41, from: 'c' }, 1)
  assert.is(peer.get('a')?.status, 'left')
  peer.receive('a', alive('a', 42), 2)
  assert.is(peer.get('a')?.status, 'alive')
})

test('refutation: hearing itself suspected (or dead) raises the incarnation, persists, publishes and tells the accuser', () => {
  const m = core('a', { incarnation: 4 })
  m.ready()
  m.receive('b', { type: 'suspect', id: 'a', incarnation: 5, from: 'b' }, 10)
  let r = m.ready()
  assert.equal(r.persist, { incarnation: 6 })
  assert.equal(r.publish.map(p => [p.type, p.incarnation]), [['alive', 6]])
  assert.equal(r.send.map(s => [s.to, s.msg.type]), [['b', 'alive']])
  assert.is(m.awarenessScore(), 1)
  // A stale accusation (already refuted) changes nothing.
  m.receive('c', { type: 'dead', id: 'a', incarnation: 5, from: 'c' }, 11)
  r = m.ready()
  assert.is(r.persist, undefined)
  assert.equal(r.publish, [])
  // Someone holding a newer alive for us (lost state file): jump above it.
  m.receive('c', alive('a', 9), 12)
  assert.is(m.incarnation(), 10)
  assert.equal(m.ready().persist, { incarnation: 10 })
})

test('probe: a direct ack keeps the target alive and lowers awareness', () => {
  const a = core('a')
  a.receive('b', alive('b'), 0)
  a.ready()
  const rs = runTo(a, 0, 300)
  const ping = sends(rs).find(s => s.msg.type === 'ping')
  assert.ok(ping !== undefined)
  assert.is(ping.to, 'b')
  assert.equal(ping.addrs, ['/memory/b'])
  const seq = (ping.msg as { seq: number }).seq
  a.receive('b', { type: 'ack', seq }, 50)
  const later = runTo(a, 50, 199)
  assert.equal(sends(later).filter(s => s.msg.type === 'ping-req'), [])
  assert.is(a.get('b')?.status, 'alive')
})

test('probe: silence leads to ping-req, then suspect (published and told to the target), then dead at the min timeout', () => {
  const a = core('a')
  a.receive('b', alive('b'), 0)
  a.receive('h', alive('h'), 0)
  a.ready()
  let now = 0
  let suspectedAt: number | undefined
  for (let i = 0; i < 200 && suspectedAt === undefined; i++) {
    now = a.nextDeadline()
    a.tick(now)
    const r = a.ready()
    for (const s of r.send) {
      // h answers pings and nacks every ping-req (b is gone).
      if (s.to === 'h' && s.msg.type === 'ping') a.receive('h', { type: 'ack', seq: s.msg.seq }, now)
      if (s.to === 'h' && s.msg.type === 'ping-req') {
        assert.is(s.msg.target, 'b')
        assert.equal(s.msg.targetAddrs, ['/memory/b'])
        a.receive('h', { type: 'nack', seq: s.msg.seq }, now + 80)
      }
    }
    if (r.publish.some(p => p.type === 'suspect' && p.id === 'b')) {
      suspectedAt = now
      assert.ok(r.send.some(s => s.to === 'b' && s.msg.type === 'suspect'), 'the suspect is told directly')
    }
  }
  assert.ok(suspectedAt !== undefined)
  // The helper nacked, so the failure is not blamed on our own health.
  assert.is(a.awarenessScore(), 0)
  const s = a.suspicion('b')
  assert.ok(s !== undefined)
  // n = 3 live members, so k = 0 and the timeout is the min: 5 × 1 × 200 ms.
  assert.is(s.deadline - suspectedAt, 1000)
  const rs = runTo(a, now, suspectedAt + 1000)
  assert.is(a.get('b')?.status, 'dead')
  assert.ok(publishes(rs).some(p => p.type === 'dead' && p.id === 'b'), 'the accuser publishes dead')
})

test('probe: with nobody to probe no tick is due; a member heard alive resumes probing within a period, its departure stops it again', () => {
  const T = resolveConfig().probeInterval
  // No push-pull, dead re-dial or follow-up falls due in the window looked at.
  const a = core('a', { config: { pushPullInterval: 1e9, deadReconnectInterval: 1e9 } })
  a.ready()
  runTo(a, 0, T) // the first period finds nobody
  assert.ok(a.nextDeadline() > 1e6, `lone: next deadline ${a.nextDeadline()}`)
  a.receive('b', alive('b'), 10_000)
  a.ready()
  assert.ok(a.nextDeadline() >= 10_000 && a.nextDeadline() <= 10_000 + T, `resumes within a period: ${a.nextDeadline()}`)
  const rs = runTo(a, 10_000, 10_000 + 2 * T)
  const ping = sends(rs).find(s => s.msg.type === 'ping')
  assert.is(ping?.to, 'b')
  a.receive('b', { type: 'ack', seq: (ping?.msg as { seq: number }).seq }, 10_000 + 2 * T)
  a.receive('b', { type: 'left', id: 'b', incarnation: 0, from: 'b' }, 10_000 + 2 * T)
  a.ready()
  runTo(a, 10_000 + 2 * T, 10_000 + 5 * T)
  assert.ok(a.nextDeadline() > 1e6, `quiet again once b left: ${a.nextDeadline()}`)
})

test('a starved node does not accuse while its ticks come late; the accusation is made at the latest after accuseDeferLimit', () => {
  const hold = 1000
  const starvedThenOnTime = (accuseHoldAfterStall: number): { starved: Ready[], onTime: Array<{ now: number, r: Ready }> } => {
    const a = core('a', { config: { accuseHoldAfterStall, accuseDeferLimit: 5000, pushPullInterval: 1e9, deadReconnectInterval: 1e9 } })
    a.receive('b', alive('b'), 0)
    a.receive('c', alive('c'), 0)
    a.ready()
    // Nobody answers. For 3 s every tick comes 100 ms after its deadline, as in a
    // process that waits for CPU (the late-tick slack is 50 ms).
    const starved: Ready[] = []
    let now = 0
    for (let i = 0; i < 1000 && now < 3000; i++) {
      now = Math.max(now, a.nextDeadline()) + 100
      a.tick(now)
      starved.push(a.ready())
    }
    const onTime: Array<{ now: number, r: Ready }> = []
    driveDeadlines(a, now, now + 8000, (r, at) => { onTime.push({ now: at, r }) })
    return { starved, onTime }
  }
  const held = starvedThenOnTime(hold)
  assert.equal(publishes(held.starved).filter(p => p.type === 'suspect'), [], 'no accusation while starved')
  assert.ok(sends(held.starved).filter(o => o.msg.type === 'ping').length >= 3, 'but the members were probed')
  const firstAccusation = held.onTime.find(x => x.r.publish.some(p => p.type === 'suspect'))
  // Nobody answers here, not even helpers, so the node stays unhealthy: the
  // accusation comes by the defer limit (5 s after the first one held back).
  assert.ok(firstAccusation !== undefined, 'it accuses in the end')
  assert.ok(firstAccusation.now >= 5000, `not before the defer limit: ${firstAccusation.now}`)
  // The rule off: the same starved stretch accuses.
  const plain = starvedThenOnTime(0)
  assert.ok(publishes(plain.starved).some(p => p.type === 'suspect'), 'without the rule the starved node accuses')
})

test('an unhealthy node whose helpers all stay silent does not accuse; a helper\'s nack proves its links and it accuses', () => {
  /** a knows b, c, d; nobody acks. Returns the suspicions a published in 3 s, and their order. */
  const run = (helpersNack: boolean): string[] => {
    const a = core('a', { config: { accuseDeferLimit: 5000, pushPullInterval: 1e9, deadReconnectInterval: 1e9 } })
    for (const id of ['b', 'c', 'd']) a.receive(id, alive(id), 0)
    a.ready()
    const accused: string[] = []
    driveDeadlines(a, 0, 3000, (r, now) => {
      for (const p of r.publish) if (p.type === 'suspect' && p.from === 'a') accused.push(p.id)
      if (!helpersNack) return
      for (const o of r.send) if (o.msg.type === 'ping-req') a.receive(o.to, { type: 'nack', seq: o.msg.seq }, now + 1)
    })
    return accused
  }
  // Silent helpers: the first failure finds a healthy node (awareness 0) and accuses;
  // it leaves the node unhealthy, and no nack came, so the next target is spared.
  const silent = run(false)
  assert.is(silent.length, 1, `one accusation only: ${JSON.stringify(silent)}`)
  // Nacking helpers: every failure is the target's, each is accused.
  const nacked = run(true)
  assert.ok(nacked.length >= 2, `accused: ${JSON.stringify(nacked)}`)
})

test('awareness: failed probes without nacks raise the score and stretch the probe period', () => {
  const a = core('a')
  for (const id of ['b', 'c', 'd']) a.receive(id, alive(id), 0)
  a.ready()
  const rs = runTo(a, 0, 5000) // nobody answers anything: our own links look broken
  assert.ok(a.awarenessScore() >= 3, `score ${a.awarenessScore()}`)
  const pings = sends(rs).filter(s => s.msg.type === 'ping').length
  assert.ok(pings < 5000 / 200 / 2, `only ${pings} probes: the period stretched`)
  // Successful probes bring the score back down, one step per ack.
  const high = a.awarenessScore()
  for (const id of ['b', 'c', 'd']) a.receive(id, alive(id, 10), 5000) // they come back
  let now = 5000
  for (let i = 0; i < 200 && a.awarenessScore() > 0; i++) {
    now = Math.max(now, a.nextDeadline())
    a.tick(now)
    for (const o of a.ready().send) {
      if (o.msg.type === 'ping') a.receive(o.to, { type: 'ack', seq: o.msg.seq }, now + 1)
      if (o.msg.type === 'suspect') a.receive(o.to, { type: 'alive', id: o.to, incarnation: o.msg.incarnation + 1, addrs: [], meta: new Uint8Array(), from: o.to }, now + 1)
    }
  }
  assert.is(a.awarenessScore(), 0, `down from ${high}`)
})

test('probe patience: probes twice as far apart and twice as patient, without touching local health', () => {
  /** Four members that each ack 150 ms after a ping (late for the 100 ms timeout, in time for 200); 4 s of probing. */
  const run = (patience: number): { pings: number, pingReqs: number, score: number } => {
    const a = core('a')
    for (const id of ['b', 'c', 'd', 'e']) a.receive(id, alive(id), 0)
    a.ready()
    a.probePatience(patience)
    const acks: Array<{ at: number, to: string, seq: number }> = []
    let now = 0
    let pings = 0
    let pingReqs = 0
    for (let i = 0; i < 10_000 && now < 4000; i++) {
      const due = acks.length > 0 ? acks[0].at : Infinity
      if (due <= a.nextDeadline()) {
        const ack = acks.shift() as { at: number, to: string, seq: number }
        now = ack.at
        a.receive(ack.to, { type: 'ack', seq: ack.seq }, now)
      } else {
        now = Math.max(now, a.nextDeadline())
        a.tick(now)
      }
      for (const o of a.ready().send) {
        // A fallback ping (reliable) repeats a ping that timed out; count probes, not copies.
        if (o.msg.type === 'ping' && o.reliable !== true) { pings++; acks.push({ at: now + 150, to: o.to, seq: o.msg.seq }) }
        if (o.msg.type === 'ping-req') pingReqs++
      }
    }
    return { pings, pingReqs, score: a.awarenessScore() }
  }
  const normal = run(0)
  const patient = run(1)
  assert.ok(normal.pingReqs > 0, 'with the normal timeout the 150 ms acks are late')
  assert.is(patient.pingReqs, 0, 'with patience they are in time')
  assert.ok(Math.abs(patient.pings - normal.pings / 2) <= 2, `pings ${patient.pings} against ${normal.pings}`)
  assert.is(patient.score, 0, 'patience is not ill health')
  assert.throws(() => core('x').probePatience(-1), /probe patience must be/)
  assert.throws(() => core('x').probePatience(0.5), /probe patience must be/)
})

test('awareness: each helper that fails to nack counts against our own health', () => {
  const a = core('a')
  for (const id of ['b', 'c', 'd', 'x']) a.receive(id, alive(id), 0)
  a.ready()
  let now = 0
  for (let i = 0; i < 100; i++) {
    now = a.nextDeadline()
    a.tick(now)
    const r = a.ready()
    const reqs = r.send.filter(o => o.msg.type === 'ping-req')
    for (const o of r.send) if (o.msg.type === 'ping' && o.to !== 'x') a.receive(o.to, { type: 'ack', seq: o.msg.seq }, now + 1)
    if (reqs.length > 0) {
      assert.is(reqs.length, 3)
      // Exactly one of three helpers nacks: the two silent ones raise the score by 2.
      a.receive(reqs[0].to, { type: 'nack', seq: reqs[0].msg.type === 'ping-req' ? reqs[0].msg.seq : -1 }, now + 50)
      runTo(a, now, now + 100)
      assert.is(a.awarenessScore(), 2)
      return
    }
  }
  assert.unreachable('x was never probed')
})

test('suspicion: timeout starts at max and shrinks with distinct confirmations to min', () => {
  // This scenario jumps the clock between its own ticks; late-tick awareness has its own tests.
  const a = core('a', { config: { awarenessOnLateTicks: false } })
  const others = ['b', 'c', 'd', 'e', 'x']
  for (const id of others) a.receive(id, alive(id), 0)
  a.ready()
  // n = 6 → k = 2, min = 5 × max(1, log10(6)) × 200 = 1000, max = 4 × min.
  const min = 1000
  a.receive('b', { type: 'suspect', id: 'x', incarnation: 0, from: 'b' }, 100)
  const s0 = a.suspicion('x')
  assert.ok(s0 !== undefined)
  assert.is(s0.deadline, 100 + Math.floor(4 * min))
  a.receive('b', { type: 'suspect', id: 'x', incarnation: 0, from: 'b' }, 110) // the first accuser again
  a.receive('c', { type: 'suspect', id: 'x', incarnation: 0, from: 'c' }, 120)
  a.receive('c', { type: 'suspect', id: 'x', incarnation: 0, from: 'c' }, 121) // duplicate
  const s1 = a.suspicion('x')
  assert.is(s1?.confirmations, 1)
  assert.ok((s1?.deadline ?? 0) < s0.deadline)
  a.receive('d', { type: 'suspect', id: 'x', incarnation: 0, from: 'd' }, 130)
  assert.is(a.suspicion('x')?.deadline, 100 + min)
  assert.equal(a.ready().publish, [], 'confirmations heard on gossip are not republished')
  // A non-accuser's timer ends with one last ping to the suspect; silence → dead,
  // marked locally but left to the accusers to publish.
  a.tick(100 + min)
  const check = a.ready().send.find(o => o.to === 'x')
  assert.is(check?.msg.type, 'ping')
  assert.is(a.get('x')?.status, 'suspect')
  const rs = runTo(a, 100 + min, 100 + min + 200)
  assert.is(a.get('x')?.status, 'dead')
  assert.equal(publishes(rs).filter(p => p.type === 'dead'), [])
  assert.ok(rs.flatMap(r => r.events).some(e => e.kind === 'fail' && e.member.id === 'x'))
})

test('suspicion: a non-accuser that missed the refutation recovers it before its timer ends', () => {
  const a = core('a')
  for (const id of ['b', 'c', 'x']) a.receive(id, alive(id), 0)
  a.receive('b', { type: 'suspect', id: 'x', incarnation: 0, from: 'b' }, 10)
  a.ready()
  const deadline = a.suspicion('x')?.deadline ?? 0
  a.tick(deadline)
  const ping = a.ready().send.find(o => o.to === 'x' && o.msg.type === 'ping')
  assert.ok(ping !== undefined && ping.msg.type === 'ping')
  a.receive('x', { type: 'ack', seq: ping.msg.seq }, deadline + 5)
  const pull = a.ready().send.find(o => o.to === 'x')
  assert.ok(pull?.msg.type === 'push-pull' && !pull.msg.reply)
  // x answers with its state, which holds its refutation (incarnation 1).
  const x = core('x')
  x.receive('a', { type: 'suspect', id: 'x', incarnation: 0, from: 'b' }, 0)
  x.ready()
  x.receive('a', pull.msg, deadline + 10)
  const reply = x.ready().send.find(o => o.to === 'a')
  assert.ok(reply?.msg.type === 'push-pull' && reply.msg.reply)
  a.receive('x', reply.msg, deadline + 15)
  assert.equal([a.get('x')?.status, a.get('x')?.incarnation], ['alive', 1])
  assert.ok(a.ready().events.some(e => e.kind === 'recover' && e.member.id === 'x'))
})

test('suspicion: a refutation cancels the timer', () => {
  const a = core('a')
  for (const id of ['b', 'x']) a.receive(id, alive(id), 0)
  a.receive('b', { type: 'suspect', id: 'x', incarnation: 0, from: 'b' }, 10)
  assert.ok(a.suspicion('x') !== undefined)
  a.receive('x', alive('x', 1), 20)
  assert.is(a.suspicion('x'), undefined)
  // Run well past the old deadline (k = 0: 10 + 800) while x and b answer our probes.
  for (let now = 20, i = 0; i < 1000 && now < 5000; i++) {
    now = a.nextDeadline()
    a.tick(now)
    for (const o of a.ready().send) if (o.msg.type === 'ping') a.receive(o.to, { type: 'ack', seq: o.msg.seq }, now + 1)
  }
  assert.is(a.get('x')?.status, 'alive')
  assert.is(a.get('x')?.incarnation, 1)
})

test('awareness: ticks that come late (a starved process) raise the score, once per probe period', () => {
  /** 40 ticks, each `late` ms after its deadline, every ping answered at once: probes sent per second. */
  const probeRate = (m: Membership, late: number): number => {
    for (const id of ['b', 'c', 'd']) m.receive(id, alive(id), 0)
    m.ready()
    let now = 0
    let pings = 0
    let maxScore = 0
    for (let i = 0; i < 40; i++) {
      now = m.nextDeadline() + late
      m.tick(now)
      maxScore = Math.max(maxScore, m.awarenessScore())
      for (const o of m.ready().send) {
        if (o.msg.type !== 'ping') continue
        pings++
        m.receive(o.to, { type: 'ack', seq: o.msg.seq }, now + 1)
      }
    }
    if (late === 0) assert.is(maxScore, 0, 'on time, nothing raises the score')
    return pings / (now / 1000)
  }
  const onTime = probeRate(core('a'), 0)
  const late = probeRate(core('a'), 120) // more than probeTimeout / 2 late
  const lateIgnored = probeRate(core('a', { config: { awarenessOnLateTicks: false } }), 120)
  // Every probe is still answered (each ack lowers the score again), yet the
  // starved node probes less often than one that ignores its own lateness.
  assert.ok(late < lateIgnored * 0.8, `probes/s: on time ${onTime.toFixed(1)}, late ${late.toFixed(1)}, late but ignored ${lateIgnored.toFixed(1)}`)
  // At most once per probe period: a late tick soon after another does not count again.
  const b = core('b', { config: { probeInterval: 1000, probeTimeout: 100 } })
  for (const id of ['a', 'c', 'd']) b.receive(id, alive(id), 0)
  b.ready()
  const first = b.nextDeadline() + 3000 // one long stall
  b.tick(first)
  assert.is(b.awarenessScore(), 1)
  const soon = b.nextDeadline() + 60
  assert.ok(soon < first + 1000)
  b.tick(soon)
  assert.is(b.awarenessScore(), 1, 'not again within one probe period')
  b.tick(Math.max(first + 1000, b.nextDeadline()) + 60)
  assert.is(b.awarenessScore(), 2, 'a probe period later it counts again')
  // Switched off, lateness alone changes nothing.
  const c = core('c', { config: { awarenessOnLateTicks: false } })
  for (const id of ['a', 'b', 'd']) c.receive(id, alive(id), 0)
  c.ready()
  c.tick(c.nextDeadline() + 3000)
  assert.is(c.awarenessScore(), 0)
})

test('late ticks: after a stall, verdicts wait one grace so queued acks and refutations count', () => {
  const a = core('a')
  a.receive('b', alive('b'), 0)
  a.ready()
  let now = a.nextDeadline()
  a.tick(now)
  const ping = a.ready().send.find(o => o.msg.type === 'ping')
  assert.ok(ping?.msg.type === 'ping')
  now = a.nextDeadline()
  a.tick(now) // direct timeout: no helpers to ask
  now = a.nextDeadline() + 1000 // the event loop froze for a second
  a.tick(now)
  assert.equal(a.ready().publish, [], 'no suspicion straight out of a stall')
  a.receive('b', { type: 'ack', seq: ping.msg.seq }, now + 1) // the ack that was queued
  a.tick(a.nextDeadline())
  assert.is(a.get('b')?.status, 'alive')

  const c = core('c')
  for (const id of ['b', 'x']) c.receive(id, alive(id), 0)
  c.receive('b', { type: 'suspect', id: 'x', incarnation: 0, from: 'b' }, 0)
  const due = c.suspicion('x')?.deadline ?? 0
  c.tick(due + 1000)
  assert.is(c.get('x')?.status, 'suspect')
  c.receive('x', alive('x', 1), due + 1001)
  assert.is(c.get('x')?.status, 'alive')
})

test('fallback ping: a late direct ack sends the same ping again over the reliable channel beside the ping-reqs; its ack ends the probe', () => {
  for (const fallbackPing of [true, false]) {
    const a = core('a', { config: { fallbackPing } })
    a.receive('b', alive('b'), 0)
    a.receive('h', alive('h'), 0)
    a.ready()
    let now = 0
    let fallback: Outgoing | undefined
    let suspected = false
    for (let i = 0; i < 200 && !suspected && now < 5000; i++) {
      now = a.nextDeadline()
      a.tick(now)
      const r = a.ready()
      for (const s of r.send) {
        // b's datagrams are lost; only what goes over the reliable channel reaches it.
        if (s.to === 'h' && s.msg.type === 'ping') a.receive('h', { type: 'ack', seq: s.msg.seq }, now)
        if (s.to === 'b' && s.msg.type === 'ping' && s.reliable === true) {
          fallback ??= s
          assert.ok(r.send.some(x => x.to === 'h' && x.msg.type === 'ping-req' && x.msg.seq === (s.msg as { seq: number }).seq), 'sent with the ping-reqs, under the probe\'s seq')
          a.receive('b', { type: 'ack', seq: s.msg.seq }, now + 5, { reliable: true })
        }
      }
      suspected ||= r.publish.some(p => p.type === 'suspect' && p.id === 'b')
    }
    if (fallbackPing) {
      assert.ok(fallback !== undefined, 'a fallback ping went out')
      assert.equal(fallback.addrs, ['/memory/b'])
      assert.not.ok(suspected, 'b answered over the reliable channel, so it is never suspected')
      assert.is(a.get('b')?.status, 'alive')
      assert.is(a.awarenessScore(), 0)
    } else {
      assert.is(fallback, undefined)
      assert.ok(suspected, 'without the fallback, b is suspected')
    }
  }
  // Pings that are answered in time need no fallback.
  const a = core('a')
  a.receive('b', alive('b'), 0)
  a.ready()
  const ping = sends(runTo(a, 0, 300)).find(s => s.msg.type === 'ping')
  assert.ok(ping !== undefined && ping.reliable === undefined)
  a.receive('b', { type: 'ack', seq: (ping.msg as { seq: number }).seq }, 50)
  assert.equal(sends(runTo(a, 50, 199)).filter(s => s.reliable === true), [])
})

test('answers go back the way the request came: over the reliable channel for a reliable ping or ping-req, else not', () => {
  for (const reliable of [true, false]) {
    const h = core('h')
    h.ready()
    const via = { reliable }
    const expect = (s: Outgoing): void => { assert.is(s.reliable === true, reliable, `${s.msg.type} reliable=${String(reliable)}`) }
    h.receive('a', { type: 'ping', seq: 1 }, 0, via)
    let r = h.ready()
    assert.equal(r.send.map(s => [s.to, s.msg]), [['a', { type: 'ack', seq: 1, sum: h.liveDigest() }]])
    expect(r.send[0])
    // A relayed ack, and the ping to the target is a new request of ours, sent the usual way.
    h.receive('a', { type: 'ping-req', seq: 2, target: 'x', targetAddrs: ['/memory/x'] }, 0, via)
    r = h.ready()
    assert.is(r.send[0].reliable, undefined)
    h.receive('x', { type: 'ack', seq: (r.send[0].msg as { seq: number }).seq }, 5)
    r = h.ready()
    assert.equal(r.send.map(s => [s.to, s.msg]), [['a', { type: 'ack', seq: 2 }]])
    expect(r.send[0])
    // A nack.
    h.receive('a', { type: 'ping-req', seq: 3, target: 'y', targetAddrs: ['/memory/y'] }, 100, via)
    h.ready()
    h.tick(180)
    const nack = h.ready().send.find(s => s.msg.type === 'nack')
    assert.ok(nack !== undefined)
    expect(nack)
    // A ping-req about ourselves is acked at once.
    h.receive('a', { type: 'ping-req', seq: 4, target: 'h', targetAddrs: [] }, 200, via)
    r = h.ready()
    assert.equal(r.send.map(s => [s.to, s.msg]), [['a', { type: 'ack', seq: 4 }]])
    expect(r.send[0])
  }
})

test('ping-req: a helper relays the ack, or nacks at 80% of its probe timeout', () => {
  const h = core('h')
  h.ready()
  h.receive('a', { type: 'ping-req', seq: 7, target: 'x', targetAddrs: ['/memory/x'] }, 0)
  let r = h.ready()
  assert.equal(r.send.map(s => [s.to, s.msg.type, s.addrs]), [['x', 'ping', ['/memory/x']]])
  const seq = (r.send[0].msg as { seq: number }).seq
  h.receive('x', { type: 'ack', seq }, 5)
  r = h.ready()
  assert.equal(r.send.map(s => [s.to, s.msg]), [['a', { type: 'ack', seq: 7 }]])
  // Silent target: nack at 0.8 × 100 ms.
  h.receive('a', { type: 'ping-req', seq: 8, target: 'y', targetAddrs: ['/memory/y'] }, 100)
  h.ready()
  assert.ok(h.nextDeadline() <= 180)
  h.tick(180)
  assert.ok(h.ready().send.some(s => s.to === 'a' && s.msg.type === 'nack' && s.msg.seq === 8))
})

test('leave: publishes left, then only answers pings; commands are refused', () => {
  const a = core('a', { incarnation: 2 })
  a.receive('b', alive('b'), 0)
  a.ready()
  a.leave(10)
  const r = a.ready()
  assert.equal(r.publish.map(p => [p.type, p.id, p.incarnation]), [['left', 'a', 3]])
  assert.is(a.nextDeadline(), Infinity)
  a.receive('b', { type: 'ping', seq: 3 }, 11)
  a.receive('b', { type: 'suspect', id: 'a', incarnation: 3, from: 'b' }, 12)
  assert.equal(a.ready().send.map(s => s.msg), [{ type: 'ack', seq: 3 }])
  assert.throws(() => a.updateSelf({ meta: new Uint8Array([5]) }, 13), (e: unknown) => e instanceof MembershipError && e.code === 'left')
  const b = core('b')
  b.receive('a', alive('a', 3), 0)
  b.ready()
  b.receive('a', r.publish[0], 20)
  assert.is(b.get('a')?.status, 'left')
  assert.ok(b.ready().events.some(e => e.kind === 'leave'))
})

test('force-leave: refused for alive, suspect, unknown and self; turns dead into left', () => {
  const a = core('a')
  for (const id of ['b', 'c', 'd']) a.receive(id, alive(id), 0)
  a.receive('c', { type: 'suspect', id: 'c', incarnation: 0, from: 'b' }, 1)
  a.receive('b', { type: 'dead', id: 'd', incarnation: 0, from: 'b' }, 2)
  a.ready()
  const code = (fn: () => void): string | undefined => { try { fn(); return undefined } catch (e) { return e instanceof MembershipError ? e.code : 'other' } }
  assert.is(code(() => a.forceLeave('b', 3)), 'member-alive')
  assert.is(code(() => a.forceLeave('c', 3)), 'member-alive')
  assert.is(code(() => a.forceLeave('nobody', 3)), 'unknown-member')
  assert.is(code(() => a.forceLeave('a', 3)), 'self')
  assert.is(a.get('b')?.status, 'alive')
  a.forceLeave('d', 4)
  assert.is(a.get('d')?.status, 'left')
  assert.equal(a.ready().publish.map(p => [p.type, p.id, p.incarnation]), [['left', 'd', 0]])
  // If the node was not really gone, it refutes with a higher incarnation.
  const d = core('d')
  d.ready()
  d.receive('a', { type: 'left', id: 'd', incarnation: 0, from: 'a' }, 5)
  assert.equal(d.ready().publish.map(p => [p.type, p.incarnation]), [['alive', 1]])
})

test('reap: dead and left members are forgotten after their timeouts', () => {
  const a = core('a', { config: { deadReapTimeout: 10_000, leftReapTimeout: 20_000 } })
  for (const id of ['b', 'c']) a.receive(id, alive(id), 0)
  a.receive('b', { type: 'dead', id: 'b', incarnation: 0, from: 'c' }, 1000)
  a.receive('c', { type: 'left', id: 'c', incarnation: 0, from: 'c' }, 2000)
  a.ready()
  const rs = runTo(a, 2000, 10_999)
  assert.is(a.get('b')?.status, 'dead')
  assert.equal(rs.flatMap(r => r.events).filter(e => e.kind === 'reap'), [])
  const rs2 = runTo(a, 10_999, 30_000)
  assert.is(a.get('b'), undefined)
  assert.is(a.get('c'), undefined)
  assert.equal(rs2.flatMap(r => r.events).filter(e => e.kind === 'reap').map(e => [e.member.id, e.at]), [['b', 11_000], ['c', 22_000]])
  assert.equal(a.members().map(m => m.id), ['a'])
})

test('reap: a peer that has not reaped a member yet cannot bring it back; a newer incarnation can', () => {
  const a = core('a', { config: { deadReapTimeout: 10_000, leftReapTimeout: 10_000 } })
  for (const id of ['b', 'c', 'd']) a.receive(id, alive(id), 0)
  a.receive('b', { type: 'dead', id: 'b', incarnation: 0, from: 'c' }, 1000)
  a.receive('c', { type: 'left', id: 'c', incarnation: 0, from: 'c' }, 1000)
  a.ready()
  runTo(a, 1000, 12_000)
  assert.is(a.get('b'), undefined)
  // d reaps later (it heard the verdicts later): its push-pull still holds both.
  const stillHeld = [
    { id: 'b', incarnation: 0, status: 'dead' as const, addrs: [], meta: new Uint8Array() },
    { id: 'c', incarnation: 0, status: 'left' as const, addrs: [], meta: new Uint8Array() },
    { id: 'd', incarnation: 0, status: 'alive' as const, addrs: ['/memory/d'], meta: new Uint8Array([2]) }
  ]
  a.receive('d', { type: 'push-pull', seq: 1, join: false, reply: false, entries: stillHeld }, 12_500)
  a.receive('d', { type: 'dead', id: 'b', incarnation: 0, from: 'd' }, 12_600)
  a.receive('d', alive('c', 0), 12_700)
  assert.is(a.get('b'), undefined, 'the dead entry stays reaped')
  assert.is(a.get('c'), undefined, 'the left entry stays reaped, and its old alive too')
  // b restarted: a higher incarnation is news.
  a.receive('b', alive('b', 1), 13_000)
  assert.is(a.get('b')?.status, 'alive')
  // Remembered for one more reap period only.
  a.receive('d', { type: 'push-pull', seq: 2, join: false, reply: false, entries: stillHeld }, 11_000 + 10_000)
  assert.is(a.get('c')?.status, 'left')
})

test('updateSelf: a meta change raises the incarnation and is published; bad input is refused', () => {
  const a = core('a')
  a.ready()
  a.updateSelf({ meta: new Uint8Array([7, 7]) }, 5)
  const r = a.ready()
  assert.equal(r.persist, { incarnation: 1 })
  assert.equal(r.publish.map(p => p.type === 'alive' ? [...p.meta] : []), [[7, 7]])
  const b = core('b')
  b.receive('a', alive('a', 0), 0)
  b.ready()
  b.receive('a', r.publish[0], 6)
  assert.ok(b.ready().events.some(e => e.kind === 'update' && e.member.meta[0] === 7))
  assert.throws(() => a.updateMeta(new Uint8Array(2049), 7), (e: unknown) => e instanceof MembershipError && e.code === 'invalid-argument')
  assert.throws(() => a.updateSelf({ addrs: Array.from({ length: 9 }, (_, i) => `/memory/${i}`) }, 7), (e: unknown) => e instanceof MembershipError)
  assert.is(a.incarnation(), 1)
  assert.throws(() => core(''), (e: unknown) => e instanceof MembershipError)
  assert.throws(() => core('a', { incarnation: -1 }), (e: unknown) => e instanceof MembershipError)
})

test('push-pull: join sends our state; the answer is merged and a remote dead becomes a local suspect', () => {
  const a = core('a')
  a.receive('x', alive('x'), 0)
  a.ready()
  a.join('s', 0)
  const req = a.ready().send[0]
  assert.is(req.to, 's')
  assert.ok(req.msg.type === 'push-pull' && req.msg.join && !req.msg.reply)
  const s = core('s')
  s.ready()
  s.receive('a', req.msg, 1)
  const sr = s.ready()
  // The seed announces the joiner to the mesh, and replies with its (merged) state.
  assert.ok(sr.publish.some(p => p.type === 'alive' && p.id === 'a'))
  const reply = sr.send.find(o => o.to === 'a')?.msg
  assert.ok(reply?.type === 'push-pull' && reply.reply)
  assert.equal(reply.entries.map(e => e.id).sort(), ['a', 's', 'x'])
  a.receive('s', { ...reply, entries: [...reply.entries.filter(e => e.id !== 'x'), { ...alive('x'), status: 'dead', addrs: [], meta: new Uint8Array() }] }, 2)
  assert.is(a.get('s')?.status, 'alive')
  assert.is(a.get('x')?.status, 'suspect')
  const r = a.ready()
  assert.ok(r.publish.some(p => p.type === 'suspect' && p.id === 'x' && p.from === 's'))
  assert.ok(r.send.some(o => o.to === 'x' && o.msg.type === 'suspect'), 'x is told so it can refute')
  assert.is(r.publish.some(p => p.type === 'alive' && p.id === 's'), false, 'a reply does not republish the seed')
})

test('join follow-ups: a lost join is retried, then the seed is asked again for what gossip missed', () => {
  const a = core('a')
  a.ready()
  a.join('s', 0, ['/memory/s'])
  assert.is(a.ready().send.length, 1) // lost on the way
  const first = runTo(a, 0, 250)
  const retry = sends(first).find(o => o.to === 's')
  assert.ok(retry?.msg.type === 'push-pull' && retry.msg.join, 'join asked again')
  assert.equal(retry.addrs, ['/memory/s'])
  a.receive('s', { type: 'push-pull', seq: retry.msg.seq, join: false, reply: true, entries: [{ id: 's', incarnation: 0, status: 'alive', addrs: ['/memory/s'], meta: new Uint8Array() }] }, 260)
  const later: Outgoing[] = []
  for (let now = 260, i = 0; i < 100; i++) { // s answers our probes meanwhile
    now = a.nextDeadline()
    if (now > 1000) break
    a.tick(now)
    for (const o of a.ready().send) {
      later.push(o)
      if (o.msg.type === 'ping') a.receive('s', { type: 'ack', seq: o.msg.seq }, now + 1)
    }
  }
  const follow = later.find(o => o.to === 's' && o.msg.type === 'push-pull')
  assert.ok(follow?.msg.type === 'push-pull' && !follow.msg.join && !follow.msg.reply, 'a plain push-pull with the seed')
})

/** Node `a` joined through `seed`, whose answer (at `at`) listed the seed and `others`, all alive. */
function joinedThrough (seed: string, others: string[], at: number): Membership {
  const a = core('a')
  a.ready()
  a.join(seed, 0, [`/memory/${seed}`])
  const join = a.ready().send.find(o => o.to === seed)
  assert.ok(join?.msg.type === 'push-pull' && join.msg.join)
  const entry = (id: string): MemberEntry => ({ id, incarnation: 0, status: 'alive', addrs: [`/memory/${id}`], meta: new Uint8Array() })
  a.receive(seed, { type: 'push-pull', seq: join.msg.seq, join: false, reply: true, entries: [seed, ...others].map(entry) }, at)
  return a
}

test('join follow-ups: the first asks the seed again, the later ones another member (a seed taking many joins answers each joiner twice, not four times)', () => {
  const a = joinedThrough('s', ['b', 'c', 'd'], 10)
  const pushPulls: string[] = []
  for (let now = 10, i = 0; i < 1000; i++) {
    now = a.nextDeadline()
    if (now > 3500) break
    a.tick(now)
    for (const o of a.ready().send) {
      if (o.msg.type === 'push-pull') pushPulls.push(o.to)
      if (o.msg.type === 'ping') a.receive(o.to, { type: 'ack', seq: o.msg.seq }, now + 1) // everyone answers
    }
  }
  assert.is(pushPulls.length, 3, `follow-ups at 250, 1000, 3000 ms: ${pushPulls.join(',')}`)
  assert.is(pushPulls[0], 's')
  assert.ok(pushPulls.slice(1).every(id => id !== 's' && ['b', 'c', 'd'].includes(id)), pushPulls.join(','))
})

test('join follow-ups: when the first falls due together with a later one (a stalled process), the seed is still the one asked', () => {
  const a = joinedThrough('s', ['b', 'c'], 10)
  a.ready()
  a.tick(1500) // the 250 ms and 1 s follow-ups are both due now
  const pushPulls = a.ready().send.filter(o => o.msg.type === 'push-pull').map(o => o.to)
  assert.equal(pushPulls, ['s'])
})

test('anti-entropy: with the shell saying whom it is connected to, later follow-ups go to a connected member, not a ring neighbour', () => {
  const others = ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k']
  const entry = (id: string): MemberEntry => ({ id, incarnation: 0, status: 'alive', addrs: [`/memory/${id}`], meta: new Uint8Array() })
  const joined = (linked?: (id: string) => boolean): Membership => {
    const a = createMembership({
      self: { id: 'a', addrs: ['/memory/a'], meta: new Uint8Array([1]) },
      config: { probeGraceAfterAlive: 0, probeObservers: 2 },
      random: createPrng(5),
      now: 0,
      ...(linked !== undefined ? { linked } : {})
    })
    a.ready()
    a.join('s', 0, ['/memory/s'])
    const join = a.ready().send.find(o => o.to === 's')
    assert.ok(join?.msg.type === 'push-pull')
    a.receive('s', { type: 'push-pull', seq: join.msg.seq, join: false, reply: true, entries: ['s', ...others].map(entry) }, 10)
    return a
  }
  const followUps = (a: Membership): string[] => {
    const to: string[] = []
    for (let i = 0; i < 1000; i++) {
      const now = a.nextDeadline()
      if (now > 3500) break
      a.tick(now)
      for (const o of a.ready().send) {
        if (o.msg.type === 'push-pull') to.push(o.to)
        if (o.msg.type === 'ping') a.receive(o.to, { type: 'ack', seq: o.msg.seq }, now + 1)
      }
    }
    return to
  }
  const neighbours = joined().ring().neighbours
  const connected = ['s', ...others].find(id => !neighbours.includes(id) && id !== 's') as string
  assert.ok(connected !== undefined, 'some member is not a ring neighbour')
  const withLinks = followUps(joined(id => id === connected || id === 's'))
  assert.is(withLinks[0], 's', 'the first follow-up still asks the seed')
  assert.equal(withLinks.slice(1), [connected, connected], withLinks.join(','))
  const ringOnly = followUps(joined())
  assert.ok(ringOnly.slice(1).every(id => neighbours.includes(id)), `without the hint: ring neighbours (${ringOnly.join(',')})`)
})

test('syncSoon: the periodic push-pull comes at the next tick instead of at its time, then keeps its period; ignored after leave', () => {
  const a = core('a')
  for (const id of ['b', 'c']) a.receive(id, alive(id), 0)
  a.ready()
  const pushPulls = (rs: Ready[]): Outgoing[] => sends(rs).filter(s => s.msg.type === 'push-pull')
  assert.equal(pushPulls(runTo(a, 0, 50)), [], 'the periodic one is seconds away')
  a.syncSoon(60)
  assert.ok(a.nextDeadline() <= 60)
  a.tick(60)
  const now = pushPulls([a.ready()])
  assert.is(now.length, 1)
  assert.ok(['b', 'c'].includes(now[0].to))
  // b and c answer every ping, so they stay alive partners; still no second push-pull.
  let t = 60
  for (let i = 0; i < 100 && t < 1000; i++) {
    t = a.nextDeadline()
    a.tick(t)
    const r = a.ready()
    for (const o of r.send) if (o.msg.type === 'ping') a.receive(o.to, { type: 'ack', seq: o.msg.seq }, t)
    assert.equal(pushPulls([r]), [], 'one, not a stream of them')
  }
  a.leave(1000)
  a.ready()
  a.syncSoon(1000)
  a.tick(1000)
  assert.equal(pushPulls([a.ready()]), [])
})

test('syncSoon after a join: the push-pull goes to a connected member other than the seed, else to another member; to the seed only when it is the only other member', () => {
  const entry = (id: string): MemberEntry => ({ id, incarnation: 0, status: 'alive', addrs: [`/memory/${id}`], meta: new Uint8Array() })
  /** Where the syncSoon push-pull of a joiner connected to `linked` goes, once the join's follow-ups are over. */
  const soonPartner = (seed: number, linked: string[], members = ['s', 'b', 'c', 'd']): string[] => {
    const a = createMembership({
      self: { id: 'a', addrs: ['/memory/a'], meta: new Uint8Array([1]) },
      config: { probeGraceAfterAlive: 0 },
      random: createPrng(seed),
      now: 0,
      linked: id => linked.includes(id)
    })
    a.ready()
    a.join('s', 0, ['/memory/s'])
    const join = a.ready().send.find(o => o.to === 's')
    assert.ok(join?.msg.type === 'push-pull')
    a.receive('s', { type: 'push-pull', seq: join.msg.seq, join: false, reply: true, entries: members.map(entry) }, 10)
    let now = 10
    for (let i = 0; i < 1000 && now < 4000; i++) {
      now = a.nextDeadline()
      a.tick(now)
      for (const o of a.ready().send) if (o.msg.type === 'ping') a.receive(o.to, { type: 'ack', seq: o.msg.seq }, now)
    }
    a.syncSoon(now)
    a.tick(now)
    return a.ready().send.filter(o => o.msg.type === 'push-pull').map(o => o.to)
  }
  for (let seed = 1; seed <= 20; seed++) {
    assert.equal(soonPartner(seed, ['s', 'b']), ['b'], `prng seed ${seed}: the other connected member, not the seed`)
    const onlySeedLinked = soonPartner(seed, ['s'])
    assert.is(onlySeedLinked.length, 1)
    assert.ok(['b', 'c', 'd'].includes(onlySeedLinked[0]), `prng seed ${seed}: connected to the seed alone, another member still (${onlySeedLinked[0]})`)
    assert.equal(soonPartner(seed, ['s'], ['s']), ['s'], `prng seed ${seed}: the seed when it is the only other member`)
  }
})

test('determinism: same seed, same inputs, same outputs', () => {
  const trace = (): string => {
    const a = core('a', { seed: 5 })
    for (const id of ['b', 'c', 'd', 'e']) a.receive(id, alive(id), 0)
    return JSON.stringify(runTo(a, 0, 3000).map(r => r.send.map(s => [s.to, s.msg.type])))
  }
  assert.is(trace(), trace())
})

test('durability: only messages carrying our incarnation wait for the save; acks to probes go at once', () => {
  const a = core('a')
  a.receive('b', alive('b'), 0)
  a.receive('c', alive('c'), 0)
  a.ready()
  a.receive('b', { type: 'ping', seq: 7 }, 10)
  a.receive('c', { type: 'suspect', id: 'a', incarnation: a.incarnation(), from: 'c' }, 10)
  const r = a.ready()
  assert.ok(r.persist !== undefined, 'the refutation raised the incarnation')
  const { now, held } = splitForDurability('a', r, false)
  assert.equal(now.send.map(o => [o.to, o.msg.type]), [['b', 'ack']])
  assert.ok(held.publish.some(g => g.type === 'alive' && g.id === 'a' && g.incarnation === r.persist?.incarnation))
  assert.ok(held.send.every(o => carriesOwnIncarnation('a', o.msg)))
  assert.equal(now.publish, [])
  const all = splitForDurability('a', r, true)
  assert.is(all.now.send.length, r.send.length)
  assert.is(all.now.publish.length, r.publish.length)
  assert.equal(all.held, { send: [], publish: [] })
})

test('durability: which messages carry our incarnation', () => {
  const meta = new Uint8Array([1])
  assert.ok(carriesOwnIncarnation('a', { type: 'alive', id: 'a', incarnation: 3, addrs: [], meta, from: 'a' }))
  assert.ok(carriesOwnIncarnation('a', { type: 'left', id: 'a', incarnation: 3, from: 'a' }))
  assert.ok(carriesOwnIncarnation('a', { type: 'push-pull', seq: 1, join: false, reply: true, entries: [] }))
  assert.not.ok(carriesOwnIncarnation('a', { type: 'alive', id: 'b', incarnation: 3, addrs: [], meta, from: 'a' }))
  assert.not.ok(carriesOwnIncarnation('a', { type: 'suspect', id: 'b', incarnation: 3, from: 'a' }))
  assert.not.ok(carriesOwnIncarnation('a', { type: 'dead', id: 'b', incarnation: 3, from: 'a' }))
  for (const msg of [{ type: 'ping', seq: 1 }, { type: 'ack', seq: 1 }, { type: 'nack', seq: 1 }, { type: 'ping-req', seq: 1, target: 'b', targetAddrs: [] }] as const) {
    assert.not.ok(carriesOwnIncarnation('a', msg))
  }
})

test('crowded suspicions: each raised while others are open waits longer (× 1 + open, capped); a lone one does not', () => {
  const a = core('a')
  const ids = ['b', 'c', 'd', 'e', 'f', 'g']
  for (const id of [...ids, 'x']) a.receive(id, alive(id), 0)
  a.ready()
  const n = ids.length + 2 // alive members incl. self and the accuser x
  const min = suspicionMinTimeout(resolveConfig(), n)
  // k = 2 confirmations are needed for min, so an unconfirmed suspicion runs to max = 4 × min.
  const plain = 4 * min
  for (const id of ids) a.receive('x', { type: 'suspect', id, incarnation: 0, from: 'x' }, 10)
  const stretch = ids.map(id => (a.suspicion(id)?.deadline ?? NaN) - 10)
  assert.equal(stretch.map(d => Math.round(d / plain * 100) / 100), [1, 2, 3, 4, 4, 4])
  // Once they are settled, a new lone suspicion gets the plain timeout again.
  for (const id of ids) a.receive(id, alive(id, 1), 20)
  a.receive('x', { type: 'suspect', id: 'b', incarnation: 1, from: 'x' }, 30)
  assert.is(Math.round(((a.suspicion('b')?.deadline ?? NaN) - 30) / plain * 100) / 100, 1)
})

test('crowded suspicions: suspicionCrowdMaxStretch 1 turns the stretch off', () => {
  const a = core('a', { config: { suspicionCrowdMaxStretch: 1 } })
  for (const id of ['b', 'c', 'x']) a.receive(id, alive(id), 0)
  a.receive('x', { type: 'suspect', id: 'b', incarnation: 0, from: 'x' }, 10)
  a.receive('x', { type: 'suspect', id: 'c', incarnation: 0, from: 'x' }, 10)
  assert.is(a.suspicion('b')?.deadline, a.suspicion('c')?.deadline)
  assert.throws(() => core('z', { config: { suspicionCrowdMaxStretch: 0.5 } }), /suspicionCrowdMaxStretch/)
})

test.run()
