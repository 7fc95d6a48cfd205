// The incarnation reserve: which ceiling the shell writes, when it writes again, and
// that a refutation is announced without waiting for the disk while nothing above
// the durable ceiling ever leaves. The last tests run the shell's loop by hand
// around a real core, with a disk whose writes finish only when told to.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  createMembership, DEFAULT_INCARNATION_BLOCK, IncarnationReserve, planDurability, type GossipMessage, type Membership
} from '../protocol/membership/index.js'
import { createPrng } from './sim/prng.js'

test('the first need asks for a ceiling a block above; nothing is covered until it is written', () => {
  const r = new IncarnationReserve(16)
  assert.is(r.covers(0), false)
  assert.is(r.need(0), 16)
  assert.is(r.covers(0), false, 'asked for is not written')
  r.written(16)
  assert.is(r.ceiling(), 16)
  for (let i = 0; i <= 16; i++) assert.ok(r.covers(i), `covers ${i}`)
  assert.is(r.covers(17), false)
})

test('no new write until the incarnation comes within half a block of the ceiling asked for', () => {
  const r = new IncarnationReserve(16)
  r.written(r.need(0) as number)
  for (let i = 1; i <= 8; i++) assert.is(r.need(i), undefined, `incarnation ${i} is covered with room to spare`)
  assert.is(r.need(9), 25, 'past half the block: renew while 10..16 still cover what goes out meanwhile')
  assert.ok(r.covers(16) && !r.covers(17), 'until the renewal is written, the old ceiling holds')
  assert.is(r.need(10), undefined, 'the renewal asked for already covers it')
  r.written(25)
  assert.ok(r.covers(25) && !r.covers(26))
})

test('a jump far past the ceiling asks for a block above the jump', () => {
  const r = new IncarnationReserve(16)
  r.written(r.need(5) as number)
  assert.is(r.need(1000), 1016)
})

test('writes finishing out of order never lower the ceiling', () => {
  const r = new IncarnationReserve(4)
  const first = r.need(0) as number
  const second = r.need(10) as number
  r.written(second)
  r.written(first)
  assert.is(r.ceiling(), second)
})

test('a failed write is asked for again by the next need', () => {
  const r = new IncarnationReserve(16)
  r.written(r.need(0) as number)
  const renewal = r.need(9) as number
  r.failed(renewal)
  assert.is(r.need(10), 26, 'asks again instead of counting on the failed write')
  r.failed(25) // an older failure does not undo the newer ask
  assert.is(r.need(11), undefined)
})

test('the block and the incarnation are checked', () => {
  assert.is(new IncarnationReserve().block, DEFAULT_INCARNATION_BLOCK)
  for (const bad of [0, 1, 2.5, NaN, Infinity, -4]) assert.throws(() => new IncarnationReserve(bad), RangeError, `block ${bad}`)
  const r = new IncarnationReserve()
  for (const bad of [-1, 1.5, NaN, Infinity]) assert.throws(() => r.need(bad), RangeError, `incarnation ${bad}`)
})

// ---------------------------------------------------------------- the shell loop

/** A disk that records writes and finishes them only on `flush`. */
class SlowDisk {
  onDisk: number | undefined
  readonly pending: number[] = []
  write (value: number): void { this.pending.push(value) }
  flush (reserve: IncarnationReserve): void {
    for (const v of this.pending.splice(0)) {
      this.onDisk = Math.max(this.onDisk ?? -1, v)
      reserve.written(v)
    }
  }
}

/** One node's shell, draining the core through planDurability as agent/membership/service.ts does. */
class Shell {
  readonly reserve = new IncarnationReserve(16)
  readonly sent: GossipMessage[] = []
  held: GossipMessage[] = []
  readonly core: Membership
  constructor (readonly disk: SlowDisk, persisted?: number) {
    this.core = createMembership({
      self: { id: 'a', addrs: ['/memory/a'], meta: new Uint8Array([1]) },
      ...(persisted !== undefined ? { incarnation: persisted } : {}),
      config: { probeGraceAfterAlive: 0 },
      random: createPrng(3),
      now: 0
    })
    this.pump()
  }

  pump (): void {
    const { write, now, held } = planDurability(this.reserve, 'a', this.core.ready(), this.core.incarnation())
    if (write !== undefined) this.disk.write(write)
    this.sent.push(...now.publish)
    this.held.push(...held.publish)
  }

  /** After the disk caught up: what was held goes if it is covered now. */
  release (): void {
    const go = this.held.filter(g => this.reserve.covers(g.incarnation))
    this.held = this.held.filter(g => !this.reserve.covers(g.incarnation))
    this.sent.push(...go)
  }

  suspectedBy (from: string, at: number): void {
    this.core.receive(from, { type: 'suspect', id: 'a', incarnation: this.core.incarnation(), from }, at)
    this.pump()
  }
}

const ownAlive = (gs: GossipMessage[]): number[] => gs.filter(g => g.type === 'alive' && g.id === 'a').map(g => g.incarnation)

test('a refutation is published at once while the disk is slow, and never above the durable ceiling', () => {
  const disk = new SlowDisk()
  const a = new Shell(disk)
  assert.equal(ownAlive(a.sent), [], 'the first alive waits for the first write')
  disk.flush(a.reserve)
  a.release()
  assert.equal(ownAlive(a.sent), [0])
  a.core.receive('b', { type: 'alive', id: 'b', incarnation: 0, addrs: ['/memory/b'], meta: new Uint8Array([2]), from: 'b' }, 1)
  a.pump()
  // From here the disk never finishes a write: refutations inside the block still go.
  for (let i = 1; i <= 16; i++) {
    a.suspectedBy('b', 10 * i)
    assert.is(a.core.incarnation(), i)
    assert.is(ownAlive(a.sent).at(-1), i, `refutation ${i} published without waiting`)
  }
  assert.is(disk.pending.length, 1, 'one renewal asked for, half a block before the ceiling')
  a.suspectedBy('b', 200)
  assert.is(a.core.incarnation(), 17)
  assert.is(ownAlive(a.sent).at(-1), 16, 'incarnation 17 is above the durable ceiling: held')
  assert.equal(ownAlive(a.held), [17])
  for (const inc of ownAlive(a.sent)) assert.ok(inc <= (disk.onDisk ?? -1), `announced ${inc} ≤ on disk ${disk.onDisk}`)
  disk.flush(a.reserve)
  a.release()
  assert.is(ownAlive(a.sent).at(-1), 17)
  assert.equal(a.held, [])
})

test('a restart from the ceiling on disk starts above every incarnation announced', () => {
  const disk = new SlowDisk()
  const a = new Shell(disk)
  disk.flush(a.reserve)
  a.release()
  a.core.receive('b', { type: 'alive', id: 'b', incarnation: 0, addrs: ['/memory/b'], meta: new Uint8Array([2]), from: 'b' }, 1)
  a.pump()
  for (let i = 1; i <= 12; i++) a.suspectedBy('b', 10 * i)
  const announced = Math.max(...ownAlive(a.sent))
  // kill -9 here: the renewal asked for at incarnation 9 never reached the disk.
  const again = new Shell(new SlowDisk(), disk.onDisk)
  assert.ok(again.core.incarnation() > announced, `restarted at ${again.core.incarnation()}, announced up to ${announced}`)
})

test.run()
