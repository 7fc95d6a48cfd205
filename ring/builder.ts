// The ring builder: Swift ring-builder semantics, built for speed and minimal movement.
//
//   rebalance(input, clock?) → { ring, state, report }
//
// Pure and deterministic: the same input (including params.seed and `now`) gives the
// same rows. It reads no clock; pass `clock` (e.g. performance.now) to have report.ms
// filled, otherwise report.ms is 0 and the caller may time it.
//
// Steps: validate → give devices stable ids (builder-devices.ts) → tier tree and replica
// plan (placement-tree.ts, placement-plan.ts) → integer targets per tier node → repair and
// balance passes over the rows (placement-assign.ts) → report and new state.
// An initial build is a rebalance from an empty table. A change of partPower is
// rejected (Swift's partition-power increase is a separate, offline operation).
import { RingBuildError } from './errors.js'
import { Prng } from './builder-prng.js'
import { resolveDeviceIds } from './builder-devices.js'
import { validateDeviceSpecs, validateParams } from './builder-validate.js'
import { assignedPerDevice, deviceStats, dispersionPercent, maxAbsBalance, plannedPerDevice, swiftMaxReplicas } from './builder-stats.js'
import { LEVELS, LEVEL_DEVICE, ROOT, buildTierTree } from './placement-tree.js'
import { apportionTargets, planShares } from './placement-plan.js'
import { NO_DEVICE, Placer } from './placement-assign.js'
import { rowLengths, validateBuilderState } from './state.js'
import type { BuilderState, RebalanceInput, RebalanceResult, RingData } from './types.js'

export { RingBuildError } from './errors.js'
export type { RingBuildErrorCode } from './errors.js'
export { ringStats, type RingStats, type DeviceStats, MAX_BALANCE } from './builder-stats.js'
export { MAX_PART_POWER, MAX_REPLICAS, MAX_DEVICE_ID, MAX_WORKING_BYTES, estimateWorkingBytes } from './builder-validate.js'

const HOUR_MS = 3_600_000
const MAX_AGE = 255

function validateInput (input: RebalanceInput): void {
  if (input == null || typeof input !== 'object') throw new RingBuildError('bad-param', 'rebalance input must be an object')
  validateParams(input.params)
  validateDeviceSpecs(input.devices)
  if (typeof input.now !== 'number' || !Number.isFinite(input.now) || input.now < 0) {
    throw new RingBuildError('bad-param', `now must be a finite Unix ms timestamp >= 0, got ${String(input.now)}`)
  }
  if (input.pretendMinPartHoursPassed !== undefined && typeof input.pretendMinPartHoursPassed !== 'boolean') {
    throw new RingBuildError('bad-param', 'pretendMinPartHoursPassed must be a boolean')
  }
  if (input.previous !== undefined) {
    validateBuilderState(input.previous)
    if (input.previous.params.partPower !== input.params.partPower) {
      throw new RingBuildError('part-power-changed', `partPower ${input.params.partPower} differs from the previous state's ${input.previous.params.partPower}; changing it needs a fresh build`)
    }
  }
}

/** Previous rows reshaped to the new row lengths: missing slots are NO_DEVICE, extra ones dropped. */
function reshapeRows (previous: BuilderState | undefined, lengths: number[]): Uint16Array[] {
  return lengths.map((length, r) => {
    const row = new Uint16Array(length).fill(NO_DEVICE)
    const old = previous?.rows[r]
    if (old !== undefined) row.set(old.length > length ? old.subarray(0, length) : old)
    return row
  })
}

/**
 * Move ages for this rebalance. Invariant kept across states: a partition of age a ≥ 1
 * last moved at or before agedAt − a hours, and one of age 0 at or before rebalancedAt.
 * agedAt advances in whole hours (fractions carry over, so rebalancing more often than
 * hourly still lets ages grow), and a partition of age 0 is aged from rebalancedAt, so
 * no partition ever looks older than it is: min_part_hours is never cut short.
 */
function advanceAges (previous: BuilderState | undefined, parts: number, now: number, pretend: boolean): { ages: Uint8Array, agedAt: number } {
  const ages = new Uint8Array(parts)
  if (previous === undefined) return { ages: ages.fill(MAX_AGE), agedAt: now }
  const hours = now > previous.agedAt ? Math.floor((now - previous.agedAt) / HOUR_MS) : 0
  const agedAt = previous.agedAt + hours * HOUR_MS
  if (pretend) return { ages: ages.fill(MAX_AGE), agedAt }
  const freshAge = Math.max(0, Math.min(MAX_AGE, Math.floor((agedAt - previous.rebalancedAt) / HOUR_MS)))
  for (let p = 0; p < parts; p++) {
    const age = previous.lastMoveHours[p]
    ages[p] = age === 0 ? freshAge : Math.min(MAX_AGE, age + hours)
  }
  return { ages, agedAt }
}

export function rebalance (input: RebalanceInput, clock?: () => number): RebalanceResult {
  const started = clock?.() ?? 0
  validateInput(input)
  const { params, previous, now } = input
  const parts = 2 ** params.partPower
  const devs = resolveDeviceIds(input.devices, previous?.devs ?? [])
  let weighted = 0
  let totalWeight = 0
  for (const d of devs) if (d != null && d.weight > 0) { weighted++; totalWeight += d.weight }
  if (totalWeight <= 0) throw new RingBuildError('zero-weight', 'the devices\' total weight is 0: at least one device needs weight > 0')
  const lengths = rowLengths(params.partPower, params.replicas)
  if (lengths.length > weighted) {
    throw new RingBuildError('too-many-replicas', `${params.replicas} replicas need ${lengths.length} devices with weight > 0, only ${weighted} given`)
  }
  const total = lengths.reduce((a, b) => a + b, 0)

  const before = reshapeRows(previous, lengths)
  const rows = before.map(row => row.slice())
  const { ages, agedAt } = advanceAges(previous, parts, now, input.pretendMinPartHoursPassed === true)
  const movable = new Uint8Array(parts)
  for (let p = 0; p < parts; p++) movable[p] = ages[p] >= params.minPartHours ? 1 : 0

  const tree = buildTierTree(devs)
  const plan = planShares(tree, params.replicas, params.overload)
  // Current holdings per tier node, for sticky rounding and the movement minimum.
  const perDevice = assignedPerDevice(before, devs.length)
  const current = new Int32Array(tree.nodeCount)
  let unplaced = total
  for (let leaf = 0; leaf < tree.nodeCount; leaf++) {
    const dev = tree.devOfLeaf[leaf]
    if (dev < 0) continue
    unplaced -= perDevice[dev]
    for (let l = 0; l < LEVELS; l++) current[tree.ancestor[leaf * LEVELS + l]] += perDevice[dev]
  }
  const target = apportionTargets(tree, plan, total, current)
  // Least movement any builder needs to land every device within floor/ceil of its
  // planned share: the larger of what must leave (unplaced slots plus holdings above
  // the ceiling) and what must arrive (shortfalls below the floor).
  let mustLeave = unplaced
  let mustArrive = 0
  for (let node = 0; node < tree.nodeCount; node++) {
    if (tree.level[node] !== LEVEL_DEVICE) continue
    const wanted = total * plan.share[node] / plan.share[ROOT]
    mustLeave += Math.max(0, current[node] - Math.ceil(wanted - 1e-9))
    mustArrive += Math.max(0, Math.floor(wanted + 1e-9) - current[node])
  }
  const minimum = Math.max(mustLeave, mustArrive)

  const rng = new Prng(params.seed)
  const placer = new Placer({ tree, max: plan.max, target, current, rows, previous: before, parts, movable, rng })
  placer.run(rng.below(parts))

  let moved = 0
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]
    const old = before[r]
    for (let p = 0; p < row.length; p++) {
      if (row[p] !== old[p]) { moved++; ages[p] = 0 }
    }
  }
  const replicas = params.replicas
  const planned = plannedPerDevice(tree, plan.share, total, devs.length)
  const devices = deviceStats(devs, placer.deviceCounts(devs.length), parts, replicas, planned)
  const ring: RingData = { partPower: params.partPower, devs, rows }
  const state: BuilderState = {
    version: 1,
    params: { ...params },
    devs,
    rows,
    lastMoveHours: ages,
    // Never earlier than the previous one, even if this clock lags the last
    // coordinator's: partitions of age 0 are aged from it (see advanceAges).
    rebalancedAt: Math.max(now, previous?.rebalancedAt ?? now),
    agedAt
  }
  const report = {
    moved,
    minimum,
    balance: maxAbsBalance(devices),
    dispersion: dispersionPercent(tree, swiftMaxReplicas(tree, replicas), rows, parts, replicas),
    plannedDispersion: dispersionPercent(tree, plan.max, rows, parts, replicas),
    ms: clock !== undefined ? clock() - started : 0
  }
  return { ring, state, report }
}
