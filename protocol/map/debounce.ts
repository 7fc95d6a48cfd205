// A quiet-window tracker for the coordinator loop: rebalance once membership has been
// quiet for `quietMs`, so ten joins make one epoch; `maxDelayMs` bounds the wait so
// steady churn cannot postpone a rebalance for ever. Pure: the caller passes `now`.

export class QuietWindow {
  readonly quietMs: number
  readonly maxDelayMs: number
  private firstChange: number | undefined
  private lastChange: number | undefined

  constructor (quietMs: number, maxDelayMs = Number.POSITIVE_INFINITY) {
    if (!(quietMs >= 0) || !(maxDelayMs >= quietMs)) throw new RangeError('QuietWindow: need 0 ≤ quietMs ≤ maxDelayMs')
    this.quietMs = quietMs
    this.maxDelayMs = maxDelayMs
  }

  noteChange (now: number): void {
    if (this.firstChange === undefined) this.firstChange = now
    if (this.lastChange === undefined || now > this.lastChange) this.lastChange = now
  }

  get pending (): boolean {
    return this.lastChange !== undefined
  }

  /** When `due` turns true if nothing else changes; undefined when nothing is pending. */
  dueAt (): number | undefined {
    if (this.firstChange === undefined || this.lastChange === undefined) return undefined
    return Math.min(this.lastChange + this.quietMs, this.firstChange + this.maxDelayMs)
  }

  due (now: number): boolean {
    const at = this.dueAt()
    return at !== undefined && now >= at
  }

  /** Call after acting on the changes: the window starts afresh. */
  clear (): void {
    this.firstChange = undefined
    this.lastChange = undefined
  }
}
