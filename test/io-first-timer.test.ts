// Pins the event-loop order the membership timer relies on: after the process was
// starved, socket data that arrived meanwhile is handled before the deadline fires.
// The plain-setTimeout case shows the hazard the helper exists for.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { once } from 'node:events'
import { setTimeoutAfterIo } from '../agent/io-first-timer.js'

const busyWait = (ms: number): void => { const end = Date.now() + ms; while (Date.now() < end) { /* starve the loop */ } }

/** A connected loopback pair; `write` on the far end, `data` events on the near end. */
async function socketPair (): Promise<{ near: Socket, far: Socket, server: Server }> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no tcp address')
  const accepted = once(server, 'connection')
  const near = connect(address.port, '127.0.0.1')
  await once(near, 'connect')
  const [far] = await accepted as [Socket]
  return { near, far, server }
}

/** Arms a 20 ms deadline, has the peer answer at once, starves the loop 100 ms: who runs first? */
async function race (arm: (fn: () => void, ms: number) => void): Promise<string[]> {
  const { near, far, server } = await socketPair()
  const order: string[] = []
  try {
    const answered = once(near, 'data').then(() => { order.push('ack') })
    const fired = new Promise<void>(resolve => arm(() => { order.push('deadline'); resolve() }, 20))
    far.write('ack') // lands in the kernel buffer while the loop is blocked
    busyWait(100) // both the ack and the deadline are now due
    // Bounded: a lost ack or deadline fails the test instead of hanging the run.
    let timer: NodeJS.Timeout | undefined
    const bound = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`timed out, saw ${order.join(',')}`)), 5000) })
    try { await Promise.race([Promise.all([answered, fired]), bound]) } finally { clearTimeout(timer) }
    return order
  } finally {
    near.destroy(); far.destroy(); server.close()
  }
}

test('a plain timer judges the deadline before the ack that beat it (the hazard)', async () => {
  assert.equal(await race((fn, ms) => { setTimeout(fn, ms) }), ['deadline', 'ack'])
})

test('setTimeoutAfterIo reads the pending ack first', async () => {
  for (let i = 0; i < 5; i++) assert.equal(await race((fn, ms) => { setTimeoutAfterIo(fn, ms) }), ['ack', 'deadline'])
})

test('cancel stops the callback, before the timer part fired and between it and the check phase', async () => {
  let calls = 0
  setTimeoutAfterIo(() => { calls++ }, 5).cancel()
  // Equal delays fire in creation order in one timers phase: the helper's timer part
  // runs first (its immediate is queued), then this cancel, before the check phase.
  // Node stamps each timer with a fresh clock, so the two may start a millisecond
  // apart; holding the thread past both deadlines makes them expire in the same
  // phase whatever their stamps (without it, one CI run saw the second fire only in
  // the next loop turn, after the immediate had run).
  const late = setTimeoutAfterIo(() => { calls++ }, 5)
  setTimeout(() => { late.cancel() }, 5)
  const until = performance.now() + 20
  while (performance.now() < until) { /* both deadlines pass before the loop turns */ }
  await new Promise(resolve => setTimeout(resolve, 50))
  assert.is(calls, 0)
  const fired = await new Promise<boolean>(resolve => { setTimeoutAfterIo(() => resolve(true), 1); setTimeout(() => resolve(false), 200) })
  assert.ok(fired)
})

test.run()
