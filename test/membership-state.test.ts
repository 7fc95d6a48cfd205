// Merge order, checksum, suspicion formula, awareness and config of the membership core.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  ConfigError, createMembership, membershipChecksum, pushPullPeriod, resolveConfig, supersedes,
  suspicionConfirmationsFor, suspicionMinTimeout, suspicionTimeout,
  type GossipMessage, type MemberEntry, type MemberEventKind, type MemberStatus
} from '../protocol/membership/index.js'
import { Awareness } from '../protocol/membership/awareness.js'
import { createPrng } from './sim/prng.js'

const STATUSES: MemberStatus[] = ['alive', 'suspect', 'dead', 'left']

test('supersedes: higher incarnation always wins, whatever the statuses', () => {
  for (const a of STATUSES) {
    for (const b of STATUSES) {
      assert.ok(supersedes({ incarnation: 5, status: a }, { incarnation: 4, status: b }), `${a}@5 over ${b}@4`)
      assert.not.ok(supersedes({ incarnation: 4, status: a }, { incarnation: 5, status: b }), `${a}@4 under ${b}@5`)
    }
  }
})

test('supersedes: at equal incarnation alive < suspect < dead < left', () => {
  STATUSES.forEach((a, i) => {
    STATUSES.forEach((b, j) => {
      assert.is(supersedes({ incarnation: 3, status: a }, { incarnation: 3, status: b }), i > j, `${a} vs ${b}`)
    })
  })
})

function core (id = 'a', now = 0) {
  return createMembership({ self: { id, addrs: [`/memory/${id}`], meta: new Uint8Array([1]) }, random: createPrng(7), now })
}

function alive (id: string, incarnation: number, meta = new Uint8Array([incarnation])): GossipMessage {
  return { type: 'alive', id, incarnation, addrs: [`/memory/${id}`], meta, from: id }
}
function update (type: 'suspect' | 'dead' | 'left', id: string, incarnation: number, from = 'z'): GossipMessage {
  return { type, id, incarnation, from }
}

test('merge: every ordering case through receive(), with the events it raises', () => {
  const m = core()
  m.ready()
  const steps: Array<[GossipMessage, MemberStatus, number, MemberEventKind | undefined]> = [
    [alive('x', 1), 'alive', 1, 'join'],
    [update('suspect', 'x', 0), 'alive', 1, undefined], // older incarnation: ignored
    [alive('x', 1), 'alive', 1, undefined], // same claim again
    [update('suspect', 'x', 1), 'suspect', 1, 'suspect'],
    [alive('x', 1), 'suspect', 1, undefined], // alive < suspect at equal incarnation
    [alive('x', 2), 'alive', 2, 'recover'], // refutation
    [update('dead', 'x', 2), 'dead', 2, 'fail'],
    [update('suspect', 'x', 2), 'dead', 2, undefined], // suspect < dead
    [alive('x', 2), 'dead', 2, undefined],
    [update('left', 'x', 2), 'left', 2, 'leave'], // dead < left
    [update('dead', 'x', 2), 'left', 2, undefined], // left is terminal for its incarnation
    [alive('x', 2), 'left', 2, undefined],
    [update('suspect', 'x', 3), 'suspect', 3, 'suspect'], // a newer incarnation beats left
    [alive('x', 4, new Uint8Array([9])), 'alive', 4, 'recover'],
    [alive('x', 5, new Uint8Array([9])), 'alive', 5, undefined], // same meta: no update event
    [alive('x', 6, new Uint8Array([10])), 'alive', 6, 'update'],
    [update('dead', 'x', 6), 'dead', 6, 'fail'],
    [alive('x', 7), 'alive', 7, 'join'] // back from dead
  ]
  steps.forEach(([msg, status, incarnation, event], i) => {
    m.receive('z', msg, i)
    const e = m.get('x') as MemberEntry
    assert.is(e.status, status, `step ${i}`)
    assert.is(e.incarnation, incarnation, `step ${i}`)
    const events = m.ready().events.filter(ev => ev.member.id === 'x').map(ev => ev.kind)
    assert.equal(events, event === undefined ? [] : [event], `events at step ${i}`)
  })
  // Non-alive claims keep the addrs/meta of the last alive.
  assert.equal([...(m.get('x') as MemberEntry).meta], [7])
})

test('merge: gossip about others is not republished (gossipsub already flooded it)', () => {
  const m = core()
  m.ready()
  m.receive('x', alive('x', 1), 0)
  m.receive('y', update('suspect', 'x', 1, 'y'), 1)
  assert.equal(m.ready().publish, [])
})

function fnvReference (entries: MemberEntry[]): string {
  const sorted = [...entries].sort((a, b) => (a.id < b.id ? -1 : 1))
  let h = 0xcbf29ce484222325n
  for (const e of sorted) {
    for (const byte of new TextEncoder().encode(`${e.id}\0${e.incarnation}\0${e.status}\n`)) {
      h ^= BigInt(byte)
      h = BigInt.asUintN(64, h * 0x100000001b3n)
    }
  }
  return h.toString(16).padStart(16, '0')
}

test('checksum: matches a BigInt FNV-1a 64 reference and ignores insertion order', () => {
  const random = createPrng(3)
  const entries: MemberEntry[] = []
  for (let i = 0; i < 200; i++) {
    entries.push({ id: `12D3KooW${Math.floor(random() * 1e12).toString(36)}é${i}`, incarnation: Math.floor(random() * 1e6), status: STATUSES[i % 4], addrs: [], meta: new Uint8Array() })
  }
  const sum = membershipChecksum(entries)
  assert.is(sum, fnvReference(entries))
  assert.match(sum, /^[0-9a-f]{16}$/)
  assert.is(membershipChecksum([...entries].reverse()), sum)
  const changed = entries.map((e, i) => (i === 17 ? { ...e, status: 'dead' as const } : e))
  assert.is(entries[17].status, 'suspect')
  assert.is.not(membershipChecksum(changed), sum)
  assert.is(membershipChecksum([]), 'cbf29ce484222325')
})

test('suspicion timeout: max with no confirmations, log-shrinking to min at k', () => {
  assert.is(suspicionTimeout(1000, 4000, 0, 0), 1000)
  assert.is(suspicionTimeout(1000, 4000, 3, 0), 4000)
  assert.is(suspicionTimeout(1000, 4000, 3, 3), 1000)
  assert.is(suspicionTimeout(1000, 4000, 3, 10), 1000)
  const one = suspicionTimeout(1000, 4000, 3, 1)
  const two = suspicionTimeout(1000, 4000, 3, 2)
  assert.is(one, Math.floor(4000 - 3000 * Math.log(2) / Math.log(4))) // 2500
  assert.ok(4000 > one && one > two && two > 1000)
})

test('awareness: clamps to [0, max-1] and scales durations by score+1', () => {
  const a = new Awareness(8)
  a.apply(-1)
  assert.is(a.score(), 0)
  assert.is(a.scale(100), 100)
  a.apply(3)
  assert.is(a.scale(100), 400)
  a.apply(20)
  assert.is(a.score(), 7)
  a.apply(-2)
  assert.is(a.score(), 5)
})

test('config: defaults, formulas and validation errors', () => {
  const c = resolveConfig()
  assert.is(c.suspicionConfirmations, 2) // not suspicionMult − 2: see DEFAULT_SUSPICION_CONFIRMATIONS
  assert.is(suspicionConfirmationsFor(c, 3), 0) // n - 2 < k
  assert.is(suspicionConfirmationsFor(c, 50), 2)
  assert.is(suspicionMinTimeout(c, 5), 1000) // log10 floor at 1
  assert.ok(Math.abs(suspicionMinTimeout(c, 50) - 5 * Math.log10(50) * 200) < 1e-9)
  assert.is(pushPullPeriod(c, 32), 15_000)
  assert.is(pushPullPeriod(c, 50), 30_000)
  assert.is(pushPullPeriod(c, 500), 75_000)
  assert.is(pushPullPeriod(c, 2000), 105_000)
  for (const bad of [{ probeInterval: 0 }, { probeTimeout: 150 }, { indirectChecks: -1 }, { nackRatio: 1 }, { suspicionMaxTimeoutMult: 0.5 }, { pushPullInterval: Number.NaN }, { awarenessMaxMultiplier: 1.5 }, { awarenessOnLateTicks: 1 as unknown as boolean }]) {
    try {
      resolveConfig(bad)
      assert.unreachable(JSON.stringify(bad))
    } catch (err) {
      assert.instance(err, ConfigError)
      assert.is((err as ConfigError).code, 'invalid-config')
    }
  }
})

test.run()
