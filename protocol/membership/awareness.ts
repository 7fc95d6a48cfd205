// Lifeguard local-health awareness: a small score that rises when this node
// itself looks unhealthy (missed nacks, failed probes without helpers, having to
// refute a suspicion) and falls with every successful probe. Probe intervals and
// timeouts are multiplied by score + 1, so a slow node probes more patiently
// instead of accusing healthy peers.

export class Awareness {
  private value = 0
  /** A lower bound on the multiplier's score set from outside (see floorAt); not local health. */
  private floor = 0

  /** Scores live in [0, max − 1]; max is the largest timeout multiplier. */
  constructor (private readonly max: number) {}

  /** Adds delta (may be negative) and clamps into range. */
  apply (delta: number): void {
    this.value = Math.min(this.max - 1, Math.max(0, this.value + delta))
  }

  /** Local health only: what the accusation rules read. The floor is not in it. */
  score (): number {
    return this.value
  }

  /**
   * Probe as if the score were at least `floor` (clamped into range), for a load
   * this node knows of that is not its own ill health: the shell's join wave.
   */
  floorAt (floor: number): void {
    this.floor = Math.min(this.max - 1, Math.max(0, floor))
  }

  /** duration × (max(score, floor) + 1). */
  scale (duration: number): number {
    return duration * (Math.max(this.value, this.floor) + 1)
  }
}
