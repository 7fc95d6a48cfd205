import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { PeerId } from '@libp2p/interface'
import { startLocalNodes, stopNodes } from '../agent/net/local-cluster.js'
import { openMessageChannel, type MessageChannel } from '../agent/net/message-channel.js'
import { protocolId } from '../agent/net/request-response.js'

const PROTO = protocolId('message-channel-test')

async function until (what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

function collector (): { got: Array<{ from: string, bytes: number[] }>, onMessage: (from: PeerId, bytes: Uint8Array) => void } {
  const got: Array<{ from: string, bytes: number[] }> = []
  return { got, onMessage: (from, bytes) => { got.push({ from: from.toString(), bytes: [...bytes] }) } }
}

test('many messages in order over one stream, both ways, with the sender id', async () => {
  const [a, b] = await startLocalNodes(2, 'memory')
  const inA = collector()
  const inB = collector()
  let chA: MessageChannel | undefined
  let chB: MessageChannel | undefined
  try {
    chA = await openMessageChannel(a, PROTO, { maxMessageBytes: 1024, sendTimeoutMs: 1000, maxQueued: 256, onMessage: inA.onMessage })
    chB = await openMessageChannel(b, PROTO, { maxMessageBytes: 1024, sendTimeoutMs: 1000, onMessage: inB.onMessage })
    await a.dial(b.getMultiaddrs()[0])
    const sends = Array.from({ length: 200 }, async (_, i) => await (chA as MessageChannel).send(b.peerId, new Uint8Array([i % 256, 7])))
    assert.ok((await Promise.all(sends)).every(ok => ok))
    assert.ok(await chB.send(a.peerId, new Uint8Array([42])))
    await until('200 messages at b', () => inB.got.length === 200)
    await until('1 message at a', () => inA.got.length === 1)
    assert.equal(inB.got.map(m => m.bytes[0]), Array.from({ length: 200 }, (_, i) => i % 256), 'in send order')
    assert.ok(inB.got.every(m => m.from === a.peerId.toString()))
    assert.equal(inA.got[0], { from: b.peerId.toString(), bytes: [42] })
    assert.is(chA.stats.streamsOpened, 1, 'one stream for all 200')
    assert.is(chA.stats.sent, 200)
    assert.equal([chB.stats.received, chA.stats.received], [200, 1])
  } finally {
    await chA?.stop(); await chB?.stop()
    await stopNodes([a, b])
  }
})

test('an oversized message is refused locally; an oversized frame from a peer closes only that stream', async () => {
  const [a, b] = await startLocalNodes(2, 'memory')
  const inB = collector()
  const bad: string[] = []
  let chA: MessageChannel | undefined
  let chB: MessageChannel | undefined
  try {
    chA = await openMessageChannel(a, PROTO, { maxMessageBytes: 4096, sendTimeoutMs: 1000, onMessage: () => {} })
    chB = await openMessageChannel(b, PROTO, { maxMessageBytes: 100, sendTimeoutMs: 1000, onMessage: inB.onMessage, onBadFrame: (from) => { bad.push(from.toString()) } })
    await a.dial(b.getMultiaddrs()[0])
    // a's own limit is larger, so it sends; b refuses the frame and drops the stream.
    assert.ok(await chA.send(b.peerId, new Uint8Array(50)))
    assert.ok(await chA.send(b.peerId, new Uint8Array(500)))
    await until('b notices the bad frame', () => bad.length === 1)
    assert.is(bad[0], a.peerId.toString())
    assert.is(chB.stats.badFrames, 1)
    // The next sends open a new stream and get through.
    await until('a sees its stream closed, or a send fails', () => chA?.openStreams() === 0, 2000).catch(() => {})
    let delivered = false
    for (let i = 0; i < 20 && !delivered; i++) {
      await chA.send(b.peerId, new Uint8Array([9]))
      await new Promise(resolve => setTimeout(resolve, 20))
      delivered = inB.got.some(m => m.bytes.length === 1 && m.bytes[0] === 9)
    }
    assert.ok(delivered, 'a later message arrives on a fresh stream')
    assert.ok(chA.stats.streamsOpened >= 2)
    // A message over the sender's own limit never leaves.
    const small = await openMessageChannel(a, protocolId('mc-small'), { maxMessageBytes: 10, sendTimeoutMs: 1000, onMessage: () => {} })
    assert.is(await small.send(b.peerId, new Uint8Array(11)), false)
    assert.is(small.stats.streamsOpened, 0)
    await small.stop()
  } finally {
    await chA?.stop(); await chB?.stop()
    await stopNodes([a, b])
  }
})

test('a peer that is gone: sends fail within the deadline, and the queue per peer is bounded', async () => {
  const [a, b] = await startLocalNodes(2, 'memory')
  let chA: MessageChannel | undefined
  try {
    chA = await openMessageChannel(a, PROTO, { maxMessageBytes: 1024, sendTimeoutMs: 300, maxQueued: 5, onMessage: () => {} })
    const target = b.peerId
    await a.dial(b.getMultiaddrs()[0])
    await stopNodes([b])
    const started = Date.now()
    const results = await Promise.all(Array.from({ length: 20 }, async () => await (chA as MessageChannel).send(target, new Uint8Array([1]))))
    assert.ok(results.every(ok => !ok), 'nothing reported as sent')
    assert.ok(chA.stats.dropped >= 15, `beyond 5 queued, dropped at once (${chA.stats.dropped})`)
    assert.ok(Date.now() - started < 5 * 300 + 1000, `bounded: ${Date.now() - started} ms`)
  } finally {
    await chA?.stop()
    await stopNodes([a])
  }
})

test('a peer that stops reading: the blocked write fails at its deadline and the next send opens a new stream', async () => {
  const [a, b] = await startLocalNodes(2, 'memory')
  let chA: MessageChannel | undefined
  try {
    // b accepts the protocol but stops reading, as a SIGSTOPped agent does.
    await b.handle(PROTO, (stream) => { stream.pause() }, { maxInboundStreams: 8 })
    chA = await openMessageChannel(a, PROTO, { maxMessageBytes: 64 * 1024, sendTimeoutMs: 300, maxQueued: 64, onMessage: () => {} })
    await a.dial(b.getMultiaddrs()[0])
    const started = Date.now()
    // Far more than yamux's receive window: some write must wait for a drain that never comes.
    const sends = Promise.all(Array.from({ length: 40 }, async () => await (chA as MessageChannel).send(b.peerId, new Uint8Array(60 * 1024))))
    let bound: ReturnType<typeof setTimeout> | undefined
    const results = await Promise.race([sends, new Promise<never>((_resolve, reject) => { bound = setTimeout(() => { reject(new Error('a blocked write never failed')) }, 10_000) })])
    clearTimeout(bound)
    const elapsed = Date.now() - started
    assert.ok(results.some(ok => ok), 'the first writes fit the window')
    assert.ok(results.some(ok => !ok), 'a write past the window fails')
    assert.ok(elapsed < 40 * 300 + 1000, `every send settled, bounded: ${elapsed} ms`)
    const opened = chA.stats.streamsOpened
    assert.ok(await chA.send(b.peerId, new Uint8Array([1])), 'a small send after the reset goes out')
    assert.ok(chA.stats.streamsOpened > opened, `on a new stream (${opened} → ${chA.stats.streamsOpened})`)
  } finally {
    await chA?.stop()
    await stopNodes([a, b])
  }
})

test.run()
