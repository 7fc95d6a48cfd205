// The replica plan: how many replicas of an average partition each tier node should
// hold (its share), the most it may hold of any one partition (its max, which defines
// dispersion), and the integer partition-replica count each node aims for (its target).
//
// Shares, top-down from the root's `replicas`:
// - weighted: the parent's share split by weight, capped at the node's device count
//   (a device holds at most one replica of a partition) with the excess re-split;
// - dispersed: the parent's share split evenly over the children, with the same caps;
// - final: a child whose dispersed share exceeds its weighted one may grow toward it by
//   at most `overload` × its weighted share; the growth is taken from the children
//   whose weighted share exceeds their dispersed one, in proportion to that excess.
// So overload 0 is pure weight and a large overload is pure dispersion, as in Swift.
import { LEVEL_DEVICE, ROOT, type TierTree } from './placement-tree.js'

export interface ReplicaPlan {
  share: Float64Array
  max: Int32Array
}

const EPSILON = 1e-9

/** Splits `total` in proportion to `weights`, no child above its cap. */
function cappedProportional (total: number, weights: number[], caps: number[]): number[] {
  const out = new Array<number>(weights.length).fill(0)
  const fixed = new Array<boolean>(weights.length).fill(false)
  let remaining = total
  for (;;) {
    let sum = 0
    for (let i = 0; i < weights.length; i++) if (!fixed[i]) sum += weights[i]
    if (sum <= 0) return out
    let changed = false
    for (let i = 0; i < weights.length; i++) {
      if (fixed[i] || weights[i] <= 0) continue
      if (remaining * weights[i] / sum > caps[i] + EPSILON) {
        out[i] = caps[i]
        fixed[i] = true
        remaining -= caps[i]
        changed = true
      }
    }
    if (!changed) {
      for (let i = 0; i < weights.length; i++) if (!fixed[i]) out[i] = remaining * weights[i] / sum
      return out
    }
  }
}

/** Splits `total` as evenly as the caps allow over the children with a cap > 0. */
function cappedEven (total: number, caps: number[]): number[] {
  const out = new Array<number>(caps.length).fill(0)
  const order = caps.map((_, i) => i).filter(i => caps[i] > 0).sort((a, b) => caps[a] - caps[b] || a - b)
  let remaining = total
  let left = order.length
  for (const i of order) {
    const even = remaining / left
    out[i] = Math.min(caps[i], even)
    remaining -= out[i]
    left--
  }
  return out
}

export function planShares (tree: TierTree, replicas: number, overload: number): ReplicaPlan {
  const share = new Float64Array(tree.nodeCount)
  const max = new Int32Array(tree.nodeCount)
  share[ROOT] = Math.min(replicas, tree.cap[ROOT])
  max[ROOT] = Math.ceil(replicas - EPSILON)
  for (let node = 0; node < tree.nodeCount; node++) {
    const first = tree.firstChild[node]
    const count = tree.childCount[node]
    if (count === 0 || tree.level[node] === LEVEL_DEVICE) continue
    const weights: number[] = []
    const caps: number[] = []
    for (let c = first; c < first + count; c++) { weights.push(tree.weight[c]); caps.push(tree.cap[c]) }
    const weighted = cappedProportional(share[node], weights, caps)
    const dispersed = cappedEven(share[node], caps)
    let gain = 0
    let room = 0
    const result = weighted.slice()
    for (let i = 0; i < count; i++) {
      if (dispersed[i] > weighted[i] + EPSILON) {
        result[i] = Math.min(dispersed[i], weighted[i] * (1 + overload))
        gain += result[i] - weighted[i]
      } else if (weighted[i] > dispersed[i] + EPSILON) {
        room += weighted[i] - dispersed[i]
      }
    }
    if (gain > 0 && room > 0) {
      for (let i = 0; i < count; i++) {
        if (weighted[i] > dispersed[i] + EPSILON) result[i] = weighted[i] - gain * (weighted[i] - dispersed[i]) / room
      }
    }
    for (let i = 0; i < count; i++) {
      const c = first + i
      share[c] = result[i]
      max[c] = Math.min(caps[i], Math.max(0, Math.ceil(result[i] - EPSILON)))
    }
  }
  return { share, max }
}

/**
 * Integer targets: `total` partition-replicas apportioned top-down by share (largest
 * remainder). Where rounding has a choice, the extra unit goes first to a child that
 * already holds more than the rounded-down quota (`current`), so rounding alone never
 * makes a partition move; then to the largest remainder, then to the lower node.
 */
export function apportionTargets (tree: TierTree, plan: ReplicaPlan, total: number, current: Int32Array): Int32Array {
  const target = new Int32Array(tree.nodeCount)
  target[ROOT] = total
  const order: number[] = []
  const quota: number[] = []
  for (let node = 0; node < tree.nodeCount; node++) {
    const first = tree.firstChild[node]
    const count = tree.childCount[node]
    if (count === 0 || tree.level[node] === LEVEL_DEVICE) continue
    const parentShare = plan.share[node]
    if (parentShare <= 0 || target[node] === 0) continue
    let given = 0
    order.length = 0
    quota.length = 0
    for (let i = 0; i < count; i++) {
      const c = first + i
      const q = target[node] * plan.share[c] / parentShare
      quota.push(q)
      target[c] = Math.floor(q + EPSILON)
      given += target[c]
      if (plan.share[c] > 0 && q - target[c] > EPSILON) order.push(i)
    }
    order.sort((a, b) => {
      const holdsA = current[first + a] > target[first + a] ? 1 : 0
      const holdsB = current[first + b] > target[first + b] ? 1 : 0
      if (holdsA !== holdsB) return holdsB - holdsA
      const fracA = quota[a] - target[first + a]
      const fracB = quota[b] - target[first + b]
      if (Math.abs(fracA - fracB) > EPSILON) return fracB - fracA
      return a - b
    })
    let units = target[node] - given
    for (let k = 0; units > 0 && k < order.length; k++, units--) target[first + order[k]]++
    // Only floating-point drift can leave units here (either sign); settle them round-robin.
    for (let i = 0; units < 0; i = (i + 1) % count) {
      if (target[first + i] > 0) { target[first + i]--; units++ }
    }
    for (let i = 0; units > 0; i = (i + 1) % count) {
      if (plan.share[first + i] > 0) { target[first + i]++; units-- }
    }
  }
  return target
}
