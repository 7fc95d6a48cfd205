// Min-heap of timed actions for the virtual clock; ties run in insertion order
// so a simulation is fully determined by its seed.

interface Item { at: number, order: number, run: () => void }

export class EventQueue {
  private heap: Item[] = []
  private counter = 0

  get size (): number { return this.heap.length }

  push (at: number, run: () => void): void {
    const item = { at, order: this.counter++, run }
    const h = this.heap
    h.push(item)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!before(h[i], h[p])) break
      ;[h[i], h[p]] = [h[p], h[i]]
      i = p
    }
  }

  peekTime (): number {
    return this.heap.length > 0 ? this.heap[0].at : Infinity
  }

  pop (): Item | undefined {
    const h = this.heap
    if (h.length === 0) return undefined
    const top = h[0]
    const last = h.pop() as Item
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && before(h[l], h[m])) m = l
        if (r < h.length && before(h[r], h[m])) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m], h[i]]
        i = m
      }
    }
    return top
  }
}

function before (a: Item, b: Item): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order)
}
