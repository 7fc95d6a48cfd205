// Who probes whom. Classic SWIM has every member probe every other one, which over
// UDP costs nothing to set up. Over libp2p each pair that talks needs a connection
// (TCP, noise, yamux, identify: ~40 ms of CPU for both ends on this box), so
// probing everyone means N² connections: at N = 50 that saturated both cores for
// tens of seconds after a mass join, and beyond libp2p's 300-connection cap it
// would never settle. Instead, as in Rapid's monitoring overlay, members sit on a
// ring ordered by a hash of their ids and each one probes the k members that
// follow it: every member has k observers, a node holds about 2k probe
// connections whatever N is, and the probe rate a member sees stays one per
// period (k observers, each probing it every k periods), so detection time does
// not change. The hash scatters neighbours, so a node's observers are unrelated
// to its id, and every node computes the same ring from the same view.

/** 32-bit FNV-1a of the id's UTF-16 code units: cheap, stable, and well spread for peer ids. */
export function ringPosition (id: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/**
 * Both sides of `self` on the ring of `members`: the `k` it observes (successors)
 * and the `k` that observe it (predecessors); self need not be listed and is never
 * returned. k ≤ 0, or k at least the other members' count, means all of them on
 * both sides. The node holds connections to both anyway, which makes them the
 * cheap partners for anti-entropy.
 */
export function ringNeighbours (self: string, members: readonly string[], k: number): { successors: string[], predecessors: string[] } {
  const others = members.filter(id => id !== self)
  if (k <= 0 || others.length <= k) return { successors: others, predecessors: others }
  const ring = others.map(id => ({ id, at: ringPosition(id) }))
  ring.sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const me = ringPosition(self)
  // First member after self on the ring (ties broken by id, as in the sort).
  let start = ring.findIndex(m => m.at > me || (m.at === me && m.id > self))
  if (start < 0) start = 0
  const n = ring.length
  const successors: string[] = []
  const predecessors: string[] = []
  for (let i = 0; i < k; i++) {
    successors.push(ring[(start + i) % n].id)
    predecessors.push(ring[(start - 1 - i + 2 * n) % n].id)
  }
  return { successors, predecessors }
}
