import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { chooseCoordinator, coordinatorChoice, hasMajority, planRebalance, QuietWindow, type CoordinatorCandidate, type PlanInput, type PlanMember, type RebalancePlan } from '../protocol/map/index.js'
import type { NodeMeta } from '../protocol/node-meta.js'
import { sampleMap, sortedIds } from './map-fixtures.js'

const [a, b, c, d, e] = sortedIds(5)

test('coordinator: lowest alive+ready id; skips suspect, dead, left and not-ready', () => {
  const members: CoordinatorCandidate[] = [
    { id: e, status: 'alive', ready: true },
    { id: a, status: 'suspect', ready: true },
    { id: b, status: 'dead', ready: true },
    { id: c, status: 'left', ready: true },
    { id: d, status: 'alive', ready: false }
  ]
  assert.is(chooseCoordinator(members), e)
  members.push({ id: d, status: 'alive', ready: true })
  assert.is(chooseCoordinator(members), d)
})

test('coordinator: bootstrap when nobody is ready picks the lowest id among the highest installed epoch', () => {
  assert.equal(coordinatorChoice([{ id: c, status: 'alive', ready: false }, { id: b, status: 'alive', ready: false }, { id: a, status: 'dead', ready: false }]), { id: b, rule: 'bootstrap' })
  assert.equal(coordinatorChoice([{ id: a, status: 'alive', ready: false, epoch: 3 }, { id: d, status: 'alive', ready: false, epoch: 4 }, { id: c, status: 'alive', ready: false, epoch: 4 }]), { id: c, rule: 'bootstrap' })
  assert.is(chooseCoordinator([{ id: a, status: 'dead', ready: true }]), undefined)
  assert.is(chooseCoordinator([]), undefined)
})

test('majority: strict; exactly half is not a majority; empty previous set passes', () => {
  assert.ok(hasMajority([a, b, c], [a, b]))
  assert.not.ok(hasMajority([a, b, c], [a]))
  assert.not.ok(hasMajority([a, b, c, d], [a, b]))
  assert.ok(hasMajority([a, b, c, d], [a, b, c]))
  assert.not.ok(hasMajority([a, b], [a, e, d])) // outsiders do not count
  assert.ok(hasMajority([], []))
})

function meta (ip: string, devices: Array<[string, number]>, zone = 1): NodeMeta {
  return { region: 1, zone, storageIp: ip, storagePort: 6200, devices: devices.map(([name, weight]) => ({ name, weight })), epoch: 1, ready: true }
}

const rings = [{ name: 'object', partPower: 10, replicas: 3, minPartHours: 1, overload: 0 }]
const T0 = 1_000_000
const HOUR = 3_600_000

function view (): PlanMember[] {
  return [
    { id: a, status: 'alive', meta: meta('10.0.0.1', [['sdb', 100], ['sdc', 100]]), statusSince: 0 },
    { id: b, status: 'alive', meta: meta('10.0.0.2', [['sdb', 100]], 2), statusSince: 0 },
    { id: c, status: 'alive', meta: meta('10.0.0.3', [['sdb', 100]], 3), statusSince: 0 }
  ]
}

/** Plans from scratch, then returns the input for a next plan with that result as "previous". */
function afterFirstPlan (members: PlanMember[]): { first: RebalancePlan, previous: NonNullable<PlanInput['previous']> } {
  const first = planRebalance({ rings, members, policy: { removeDeadAfterMs: HOUR, now: T0 } })
  const map = sampleMap({ members: first.members, coordinator: a })
  map.rings = { object: { ...sampleMap().rings.object, partPower: 10, replicas: 3, minPartHours: 1, overload: 0 } }
  // as from a builder state: holes (removed devices) are null
  return { first, previous: { map, devices: { object: [null, ...first.rings.object.devices, null] } } }
}

test('plan: bootstrap builds every device with meta-derived identity and sorted order', () => {
  const { first } = afterFirstPlan(view())
  assert.ok(first.changed)
  assert.ok(first.publish)
  assert.equal(first.ringsChanged, ['object'])
  assert.equal(first.members, [a, b, c])
  assert.equal(first.rings.object.devices.map(x => `${x.ip}:${x.port}/${x.device}@z${x.zone}w${x.weight}`), ['10.0.0.1:6200/sdb@z1w100', '10.0.0.1:6200/sdc@z1w100', '10.0.0.2:6200/sdb@z2w100', '10.0.0.3:6200/sdb@z3w100'])
  assert.is(first.rings.object.devices[0].meta, a)
})

test('plan: nothing changed is a no-op (no new epoch)', () => {
  const { previous } = afterFirstPlan(view())
  // shuffled view, statuses refreshed: still the same inputs
  const again = planRebalance({ previous, rings, members: view().reverse(), policy: { removeDeadAfterMs: HOUR, now: T0 + 5 * HOUR } })
  assert.not.ok(again.changed)
  assert.not.ok(again.publish)
  assert.equal(again.ringsChanged, [])
  assert.not.ok(again.membersChanged)
})

test('plan: a left member is removed at once', () => {
  const { previous } = afterFirstPlan(view())
  const members = view()
  members[2] = { ...members[2], status: 'left', statusSince: T0 }
  const p = planRebalance({ previous, rings, members, policy: { removeDeadAfterMs: HOUR, now: T0 + 1 } })
  assert.ok(p.changed)
  assert.equal(p.members, [a, b])
  assert.equal(p.rings.object.reasons, ['remove 10.0.0.3|6200|sdb'])
  assert.ok(p.publish)
})

test('plan: a dead member is kept until removeDeadAfterMs, then removed', () => {
  const { previous } = afterFirstPlan(view())
  const members = view()
  members[1] = { ...members[1], status: 'dead', statusSince: T0 }
  const early = planRebalance({ previous, rings, members, policy: { removeDeadAfterMs: HOUR, now: T0 + HOUR - 1 } })
  assert.not.ok(early.changed)
  const late = planRebalance({ previous, rings, members, policy: { removeDeadAfterMs: HOUR, now: T0 + HOUR } })
  assert.ok(late.changed)
  assert.equal(late.rings.object.reasons, ['remove 10.0.0.2|6200|sdb'])
  assert.equal(late.members, [a, c])
})

test('plan: weight, new device, zone and ring parameter changes are detected', () => {
  const { previous } = afterFirstPlan(view())
  const members = view()
  members[0] = { ...members[0], meta: meta('10.0.0.1', [['sdb', 100], ['sdc', 150], ['sdd', 10]]) }
  members[2] = { ...members[2], meta: meta('10.0.0.3', [['sdb', 100]], 4) }
  const p = planRebalance({ previous, rings: [{ ...rings[0], overload: 0.1 }], members, policy: { removeDeadAfterMs: HOUR, now: T0 } })
  assert.ok(p.changed)
  assert.not.ok(p.membersChanged)
  assert.equal(p.rings.object.reasons.sort(), ['add 10.0.0.1|6200|sdd', 'overload 0→0.1', 'update 10.0.0.3|6200|sdb', 'weight 10.0.0.1|6200|sdc 100→150'].sort())
})

test('plan: a member with no readable meta keeps its previous devices', () => {
  const { previous } = afterFirstPlan(view())
  const members = view()
  members[0] = { ...members[0], meta: undefined }
  const p = planRebalance({ previous, rings, members, policy: { removeDeadAfterMs: HOUR, now: T0 } })
  assert.not.ok(p.changed)
  assert.is(p.rings.object.devices.length, 4)
})

test('plan: a map member the view does not list is unknown, not gone: its devices stay, it is not alive', () => {
  const { previous } = afterFirstPlan(view())
  // A coordinator that just restarted has heard of a and c only.
  const partial = view().filter(m => m.id !== b)
  const p = planRebalance({ previous, rings, members: partial, policy: { removeDeadAfterMs: HOUR, now: T0 } })
  assert.not.ok(p.changed, JSON.stringify(p.rings.object.reasons))
  assert.equal(p.members, [a, b, c])
  assert.is(p.rings.object.devices.filter(x => x.meta === b).length, 1)
  assert.equal(p.gate, { majority: true, alive: 2, of: 3 })
  // Knowing only itself of three, it has no majority either way.
  const alone = planRebalance({ previous, rings, members: [view()[0]], policy: { removeDeadAfterMs: HOUR, now: T0 } })
  assert.not.ok(alone.changed)
  assert.equal(alone.gate, { majority: false, alive: 1, of: 3 })
})

test('plan: a new ring and a dropped ring are changes; contested devices go to the lower id', () => {
  const { previous } = afterFirstPlan(view())
  const members = view()
  members.push({ id: d, status: 'alive', meta: meta('10.0.0.1', [['sdb', 5]]), statusSince: 0 })
  const p = planRebalance({ previous, rings: [{ name: 'account', partPower: 8, replicas: 3, minPartHours: 1, overload: 0 }], members, policy: { removeDeadAfterMs: HOUR, now: T0 } })
  assert.equal(p.ringsChanged, ['account'])
  assert.equal(p.ringsRemoved, ['object'])
  assert.is(p.conflicts.length, 1)
  assert.is(p.rings.account.devices.find(x => x.ip === '10.0.0.1' && x.device === 'sdb')?.meta, a)
})

test('plan: majority gate blocks publishing in a minority, force overrides', () => {
  const { previous } = afterFirstPlan(view())
  const members = view()
  members[1] = { ...members[1], status: 'suspect' }
  members[2] = { ...members[2], status: 'left', statusSince: T0 }
  const p = planRebalance({ previous, rings, members, policy: { removeDeadAfterMs: HOUR, now: T0 } })
  assert.ok(p.changed)
  assert.equal(p.gate, { majority: false, alive: 1, of: 3 })
  assert.not.ok(p.publish)
  const forced = planRebalance({ previous, rings, members, policy: { removeDeadAfterMs: HOUR, now: T0, force: true } })
  assert.ok(forced.publish)
})

test('debounce: due after a quiet window; each change restarts it; maxDelay caps the wait', () => {
  const w = new QuietWindow(100, 250)
  assert.not.ok(w.due(0))
  assert.is(w.dueAt(), undefined)
  w.noteChange(0)
  assert.not.ok(w.due(99))
  w.noteChange(80)
  assert.not.ok(w.due(179))
  assert.ok(w.due(180))
  w.noteChange(160)
  w.noteChange(240)
  assert.is(w.dueAt(), 250) // first change at 0 + maxDelay 250 beats 240 + 100
  assert.ok(w.due(250))
  w.clear()
  assert.not.ok(w.pending)
  assert.not.ok(w.due(10_000))
  assert.throws(() => new QuietWindow(100, 50), RangeError)
})

test.run()
