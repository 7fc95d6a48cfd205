// Drives a membership core by hand: tick it at each of its deadlines up to a time,
// handing every batch it emits to the caller. Bounded by iterations as well as time.
import type { Membership, Ready } from '../../protocol/membership/index.js'

export function driveDeadlines (m: Membership, from: number, until: number, onReady: (r: Ready, now: number) => void): void {
  let now = from
  for (let i = 0; i < 10_000; i++) {
    const next = m.nextDeadline()
    if (next > until) break
    now = Math.max(now, next)
    m.tick(now)
    onReady(m.ready(), now)
  }
}
