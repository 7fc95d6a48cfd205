// Yamux credits the sender only once half the receive window is used (as go-yamux
// does), instead of after every data frame: for small messages that halves the
// frames on the wire. The patch drives the library's own method, so these tests
// also pin the library behaviour it relies on.
import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import { installLazyWindowUpdates, windowUpdateCanWait } from '../agent/net/yamux-window.js'

const WINDOW = 256 * 1024

interface Frame { type: number, flag: number, streamID: number, length: number }

/** A stand-in with the fields YamuxStream.sendWindowUpdate reads; frames land in `sent`. */
function fakeStream (state: number, used: number): { sent: Frame[], call: () => void } {
  const sent: Frame[] = []
  const s = {
    state,
    streamId: 7,
    recvWindow: WINDOW,
    recvWindowCapacity: WINDOW - used,
    maxStreamWindowSize: 16 * 1024 * 1024,
    epochStart: 0,
    getRTT: () => -1,
    getSendFlags () {
      if (this.state === 0) { this.state = 1; return 1 } // Init → SYNSent: SYN
      if (this.state === 2) { this.state = 3; return 2 } // SYNReceived → Established: ACK
      return 0
    },
    sendFrame: (f: Frame) => { sent.push(f) }
  }
  const method = (YamuxStream.prototype as unknown as { sendWindowUpdate: (this: typeof s) => void }).sendWindowUpdate
  return { sent, call: () => { method.call(s) } }
}

test('the rule: wait while less than half the window is used and no flag is owed', () => {
  assert.ok(windowUpdateCanWait({ state: 3, recvWindow: WINDOW, recvWindowCapacity: WINDOW - 100 }))
  assert.not.ok(windowUpdateCanWait({ state: 3, recvWindow: WINDOW, recvWindowCapacity: WINDOW / 2 }))
  assert.not.ok(windowUpdateCanWait({ state: 0, recvWindow: WINDOW, recvWindowCapacity: WINDOW }), 'Init owes SYN')
  assert.not.ok(windowUpdateCanWait({ state: 2, recvWindow: WINDOW, recvWindowCapacity: WINDOW - 1 }), 'SYNReceived owes ACK')
  assert.not.ok(windowUpdateCanWait({ state: 5, recvWindow: WINDOW, recvWindowCapacity: WINDOW - 1 }), 'Paused is the library\'s case')
})

test('patched YamuxStream: no update for a small frame, one with the full delta at half, flags still sent', () => {
  const before = fakeStream(3, 100)
  before.call()
  assert.is(before.sent.length, 1, 'the unpatched library answers every data frame')
  assert.ok(installLazyWindowUpdates())
  assert.ok(installLazyWindowUpdates(), 'idempotent')
  const small = fakeStream(3, 100)
  small.call()
  assert.equal(small.sent, [])
  const half = fakeStream(3, WINDOW / 2)
  half.call()
  assert.is(half.sent.length, 1)
  assert.is(half.sent[0].length, WINDOW / 2)
  const opening = fakeStream(2, 10)
  opening.call()
  assert.is(opening.sent.length, 1)
  assert.is(opening.sent[0].flag, 2, 'the ACK of an inbound stream is not held back')
})

test.run()
