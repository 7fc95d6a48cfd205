// The virtual clock both simulators run on: timed actions in an EventQueue, run in
// time order (ties in insertion order), so a run is fully determined by its seed.
import { EventQueue } from './event-queue.js'

export class VirtualClock {
  now = 0
  protected readonly queue = new EventQueue()

  /** Schedules `run` `delay` ms from now. */
  protected at (delay: number, run: () => void): void { this.queue.push(this.now + delay, run) }

  run (ms: number): void { this.runUntilTime(this.now + ms) }

  runUntilTime (t: number): void {
    while (this.queue.peekTime() <= t) {
      const item = this.queue.pop()
      if (item === undefined) break
      this.now = Math.max(this.now, item.at)
      item.run()
    }
    this.now = Math.max(this.now, t)
  }

  /** Runs until `done()` holds (checked every `step` ms) or `maxMs` passes; returns the elapsed time or undefined. */
  runUntil (done: () => boolean, maxMs: number, step = 10): number | undefined {
    const start = this.now
    while (this.now - start <= maxMs) {
      if (done()) return this.now - start
      this.run(step)
    }
    return undefined
  }
}
