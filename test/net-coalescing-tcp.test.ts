// One socket write per send (agent/net/coalescing-tcp.ts): a send of several chunks
// is corked into one writev, a single chunk is written as before, and on real TCP
// connections noise's 2-byte length prefix never goes to the kernel alone.
import '../agent/polyfill.js'
import { Socket } from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { MultiaddrConnection } from '@libp2p/interface'
import { coalesceWrites } from '../agent/net/coalescing-tcp.js'
import { startLocalNodes, stopNodes } from '../agent/net/local-cluster.js'
import { openMessageChannel } from '../agent/net/message-channel.js'

interface FakeList { bufs: Uint8Array[] }

function fakeConnection (): { conn: MultiaddrConnection, log: string[], send: (bufs: Uint8Array[]) => unknown } {
  const log: string[] = []
  const socket = { cork: () => { log.push('cork') }, uncork: () => { log.push('uncork') } }
  const raw = {
    socket,
    sendData (data: FakeList) {
      for (const b of data.bufs) log.push(`write ${b.byteLength}`)
      return { sentBytes: data.bufs.reduce((n, b) => n + b.byteLength, 0), canSendMore: true }
    }
  }
  return { conn: raw as unknown as MultiaddrConnection, log, send: (bufs) => raw.sendData({ bufs }) }
}

test('coalesceWrites corks a send of several chunks and leaves a single chunk alone', () => {
  const { conn, log, send } = fakeConnection()
  assert.ok(coalesceWrites(conn))
  assert.equal(send([new Uint8Array(2), new Uint8Array(40)]), { sentBytes: 42, canSendMore: true })
  assert.equal(log, ['cork', 'write 2', 'write 40', 'uncork'])
  log.length = 0
  send([new Uint8Array(7)])
  assert.equal(log, ['write 7'])
})

test('coalesceWrites uncorks even when the send throws, and declines a connection of unknown shape', () => {
  const { conn, log } = fakeConnection()
  ;(conn as unknown as { sendData: () => never }).sendData = () => { throw new Error('boom') }
  assert.ok(coalesceWrites(conn))
  assert.throws(() => (conn as unknown as { sendData: (d: FakeList) => unknown }).sendData({ bufs: [new Uint8Array(1), new Uint8Array(1)] }), /boom/)
  assert.equal(log, ['cork', 'uncork'])
  assert.is(coalesceWrites({ sendData: () => ({}) } as unknown as MultiaddrConnection), false, 'no socket')
  assert.is(coalesceWrites({ socket: {} } as unknown as MultiaddrConnection), false, 'no cork, no sendData')
})

test('over real TCP connections no noise length prefix is written alone', async () => {
  const lone: number[] = []
  let writes = 0
  const proto = Socket.prototype as unknown as { _write: (chunk: Uint8Array, enc: string, cb: () => void) => void }
  const original = proto._write
  proto._write = function (this: Socket, chunk, enc, cb) {
    writes++
    if (chunk.byteLength === 2) lone.push(chunk.byteLength)
    original.call(this, chunk, enc, cb)
  }
  const nodes = await startLocalNodes(2, 'tcp')
  try {
    await nodes[0].dial(nodes[1].getMultiaddrs()[0])
    const received: number[] = []
    const channels = await Promise.all(nodes.map(async (node, i) => await openMessageChannel(node, '/test/coalesce/1', {
      maxMessageBytes: 4096,
      sendTimeoutMs: 5000,
      onMessage: (_from, bytes) => { if (i === 1) received.push(bytes[0]) }
    })))
    for (let k = 0; k < 20; k++) assert.ok(await channels[0].send(nodes[1].peerId, new Uint8Array(100).fill(k)), `send ${k}`)
    const deadline = Date.now() + 5000
    while (received.length < 20 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
    assert.equal(received, Array.from({ length: 20 }, (_, k) => k), 'every message arrived, in order')
    assert.is(lone.length, 0, `${lone.length} lone 2-byte writes out of ${writes}`)
    await Promise.all(channels.map(async c => { await c.stop() }))
  } finally {
    proto._write = original
    await stopNodes(nodes)
  }
})

test.run()
