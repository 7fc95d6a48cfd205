// The failure-domain tree Swift's builder reasons about: root > region > zone > ip
// (the server tier is the ip alone, not ip:port) > device. Nodes are numbered level
// by level, so each node's children are contiguous and every lookup is a typed-array
// read, which keeps the placement loops free of allocation.
import type { RingDevice } from './types.js'

export const ROOT = 0
export const LEVEL_REGION = 1
export const LEVEL_ZONE = 2
export const LEVEL_IP = 3
export const LEVEL_DEVICE = 4
/** Levels including the root. */
export const LEVELS = 5

export interface TierTree {
  nodeCount: number
  level: Uint8Array
  parent: Int32Array
  firstChild: Int32Array
  childCount: Int32Array
  /** ancestor[node * LEVELS + L] = the node's ancestor at level L (itself at its own level), -1 below it. */
  ancestor: Int32Array
  /** Sum of device weights under the node. */
  weight: Float64Array
  /** Devices with weight > 0 under the node: the most replicas of one partition it can hold. */
  cap: Int32Array
  /** Device id → leaf node, -1 for ids without a device. */
  leafOfDev: Int32Array
  /** Leaf node → device id, -1 for inner nodes. */
  devOfLeaf: Int32Array
  /** Human name of each node, e.g. "r1z2-10.0.0.1/sdb" style parts: region, zone, ip, device. */
  label: string[]
}

interface Group<T> { key: string, items: T[] }

function groupBy<T> (items: T[], keyOf: (item: T) => string, compare: (a: T, b: T) => number): Array<Group<T>> {
  const sorted = [...items].sort(compare)
  const groups: Array<Group<T>> = []
  for (const item of sorted) {
    const key = keyOf(item)
    const last = groups[groups.length - 1]
    if (last !== undefined && last.key === key) last.items.push(item)
    else groups.push({ key, items: [item] })
  }
  return groups
}

function compareStrings (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Builds the tree over every present device (weight 0 included: it still holds replicas while it drains). */
export function buildTierTree (devs: ReadonlyArray<RingDevice | null>): TierTree {
  const present = devs.filter((d): d is RingDevice => d != null)
  // Level-by-level lists of [parentNode, label, devices under it].
  type Pending = { parent: number, label: string, devices: RingDevice[] }
  const byLevel: Pending[][] = [[{ parent: -1, label: '', devices: present }]]
  const splitters: Array<(devices: RingDevice[]) => Array<Group<RingDevice>>> = [
    (ds) => groupBy(ds, d => `r${d.region}`, (a, b) => a.region - b.region),
    (ds) => groupBy(ds, d => `z${d.zone}`, (a, b) => a.zone - b.zone),
    (ds) => groupBy(ds, d => d.ip, (a, b) => compareStrings(a.ip, b.ip)),
    (ds) => groupBy(ds, d => `d${d.id}`, (a, b) => a.id - b.id)
  ]
  let offset = 0
  for (let l = 0; l < LEVELS - 1; l++) {
    const next: Pending[] = []
    byLevel[l].forEach((node, i) => {
      for (const group of splitters[l](node.devices)) next.push({ parent: offset + i, label: group.key, devices: group.items })
    })
    offset += byLevel[l].length
    byLevel.push(next)
  }
  const nodeCount = byLevel.reduce((n, level) => n + level.length, 0)
  const tree: TierTree = {
    nodeCount,
    level: new Uint8Array(nodeCount),
    parent: new Int32Array(nodeCount),
    firstChild: new Int32Array(nodeCount),
    childCount: new Int32Array(nodeCount),
    ancestor: new Int32Array(nodeCount * LEVELS).fill(-1),
    weight: new Float64Array(nodeCount),
    cap: new Int32Array(nodeCount),
    leafOfDev: new Int32Array(devs.length).fill(-1),
    devOfLeaf: new Int32Array(nodeCount).fill(-1),
    label: new Array<string>(nodeCount)
  }
  let node = 0
  byLevel.forEach((pendings, l) => {
    for (const pending of pendings) {
      tree.level[node] = l
      tree.parent[node] = pending.parent
      tree.label[node] = pending.label
      if (pending.parent >= 0) {
        if (tree.childCount[pending.parent] === 0) tree.firstChild[pending.parent] = node
        tree.childCount[pending.parent]++
        for (let a = 0; a < l; a++) tree.ancestor[node * LEVELS + a] = tree.ancestor[pending.parent * LEVELS + a]
      }
      tree.ancestor[node * LEVELS + l] = node
      for (const dev of pending.devices) {
        tree.weight[node] += dev.weight
        if (dev.weight > 0) tree.cap[node]++
      }
      if (l === LEVEL_DEVICE) {
        const dev = pending.devices[0]
        tree.leafOfDev[dev.id] = node
        tree.devOfLeaf[node] = dev.id
      }
      node++
    }
  })
  return tree
}
