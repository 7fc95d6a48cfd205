// Lifeguard dynamic suspicion: a suspicion starts with a long timeout (max) and
// shrinks toward min as independent confirmations arrive, on a log scale:
//   timeout(c) = max(min, max − (max − min) × log(c + 1) / log(k + 1))
// where c counts distinct confirming members (not the first accuser) and k is the
// number of confirmations that reach min. With k = 0 the timeout is min at once.

export class Suspicion {
  private readonly confirmers = new Set<string>()
  /** Replaces the formula's deadline while a non-accuser double-checks the suspect, or during a grace. */
  private override: number | undefined
  private verifySeq: number | undefined
  private graced = false

  constructor (
    readonly incarnation: number,
    readonly startedAt: number,
    private readonly min: number,
    private readonly max: number,
    private readonly k: number,
    readonly firstAccuser: string
  ) {}

  /** Records an independent confirmation; returns true if it was new (and so changed the deadline). */
  confirm (from: string): boolean {
    if (this.k < 1 || from === this.firstAccuser || this.confirmers.has(from)) return false
    if (this.confirmers.size >= this.k) return false
    this.confirmers.add(from)
    return true
  }

  /** True when `id` accused this member itself (first accuser or a counted confirmation). */
  accusedBy (id: string): boolean {
    return id === this.firstAccuser || this.confirmers.has(id)
  }

  confirmations (): number {
    return this.confirmers.size
  }

  timeout (): number {
    return suspicionTimeout(this.min, this.max, this.k, this.confirmers.size)
  }

  deadline (): number {
    return this.override ?? this.startedAt + this.timeout()
  }

  /** Starts (or, after an ack, extends) the final check; the deadline becomes `deadline`. */
  verify (seq: number, deadline: number): void {
    this.verifySeq = seq
    this.override = deadline
  }

  verifying (): number | undefined {
    return this.verifySeq
  }

  /** Once per suspicion: postpone the verdict to `deadline` (our own clock ran late). False if already used. */
  grace (deadline: number): boolean {
    if (this.graced) return false
    this.graced = true
    this.override = deadline
    return true
  }
}

/** The Lifeguard formula, exported for tests and docs. */
export function suspicionTimeout (min: number, max: number, k: number, confirmations: number): number {
  if (k < 1) return min
  const frac = Math.log(confirmations + 1) / Math.log(k + 1)
  return Math.max(min, Math.floor(max - (max - min) * frac))
}
