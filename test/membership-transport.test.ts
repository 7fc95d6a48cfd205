// The membership transport (agent/membership/transport.ts): push-pull deadlines (a
// seed answering many joins at once answers late, and a join's push-pull must wait
// for it where an ordinary anti-entropy push-pull gives up), and the fallback ping
// over libp2p when probe datagrams are lost, and the direct copy of an update to a
// peer gossipsub's publish did not reach.
import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createSocket } from 'node:dgram'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { startLocalNode, startLocalNodes, stopNodes } from '../agent/net/local-cluster.js'
import { openDatagramChannel, type DatagramChannel } from '../agent/net/datagram-channel.js'
import type { RingleaderNode } from '../agent/net/create-node.js'
import { MEMBERS_TOPIC, startTransport, type MembershipTransport } from '../agent/membership/transport.js'
import { DATAGRAM_BYPASS_MS } from '../agent/membership/probe-datagrams.js'
import { pushPullMessage } from '../protocol/membership/push-pull.js'
import type { GossipMessage, MembershipMessage } from '../protocol/membership/index.js'

async function until (what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

test('a join push-pull waits joinSyncTimeoutMs for a slow seed; other push-pulls fail at syncTimeoutMs, with the message handed to onSendFailed', async () => {
  const nodes = await startLocalNodes(2, 'memory')
  const transports: MembershipTransport[] = []
  try {
    const [seed, joiner] = nodes
    const answerDelayMs = 900
    transports.push(await startTransport({
      node: seed,
      deliver: () => {},
      // The seed's core answers only after a while (a seed busy with a herd of joins).
      answer: async (_from, msg) => {
        await sleep(answerDelayMs)
        return msg.type === 'push-pull' ? pushPullMessage(msg.seq, false, true, []) : undefined
      }
    }))
    const delivered: MembershipMessage[] = []
    const failures: Array<{ channel: string, type: string, join: boolean }> = []
    transports.push(await startTransport({
      node: joiner,
      deliver: (_from, msg) => { delivered.push(msg) },
      syncTimeoutMs: 300,
      joinSyncTimeoutMs: 5000,
      onSendFailed: (_to, channel, _err, msg) => { failures.push({ channel, type: msg.type, join: msg.type === 'push-pull' && msg.join }) }
    }))
    const to = seed.peerId.toString()
    const addrs = seed.getMultiaddrs().map(a => a.toString())

    const started = Date.now()
    const joined = await transports[1].send({ to, addrs, msg: pushPullMessage(1, true, false, []) })
    assert.ok(joined, 'the join push-pull outlasts the ordinary deadline')
    assert.ok(Date.now() - started >= answerDelayMs - 50, 'it did wait for the late answer')
    assert.equal(delivered.map(m => m.type === 'push-pull' && m.reply), [true], 'the seed\'s reply was delivered')
    assert.equal(failures, [])

    const ordinary = await transports[1].send({ to, addrs, msg: pushPullMessage(2, false, false, []) })
    assert.is(ordinary, false, 'an anti-entropy push-pull gives up at syncTimeoutMs')
    assert.equal(failures, [{ channel: 'sync', type: 'push-pull', join: false }])
    assert.is(transports[1].stats.sendFailures.sync, 1)
  } finally {
    await Promise.allSettled(transports.map(async t => { await t.stop() }))
    await stopNodes(nodes)
  }
})

test('a fallback ping goes over libp2p although the member has a UDP address, the answer goes back the way the ping came, and a member so answered is probed over libp2p for a while', async () => {
  const nodes: RingleaderNode[] = []
  const channels: DatagramChannel[] = []
  const transports: MembershipTransport[] = []
  // A UDP port that drops everything: the member's advertised port behind a firewall.
  const hole = createSocket('udp4')
  let swallowed = 0
  hole.on('message', () => { swallowed++ })
  await new Promise<void>(resolve => { hole.bind(0, '127.0.0.1', resolve) })
  const holeAddr = `/ip4/127.0.0.1/udp/${hole.address().port}`
  try {
    const got: Array<Array<{ type: string, seq: number, datagram: boolean }>> = [[], []]
    let clock = 0
    for (const i of [0, 1]) {
      const key = await generateKeyPair('Ed25519')
      const node = await startLocalNode('memory', key)
      nodes.push(node)
      const channel = await openDatagramChannel({
        selfId: peerIdFromPrivateKey(key).toString(),
        privateKey: key,
        bind: [{ host: '127.0.0.1', port: 0 }],
        onMessage: (from, payload, info) => { transports[i]?.receiveDatagram(from, payload, info) }
      })
      channels.push(channel)
      transports.push(await startTransport({
        node,
        datagrams: channel,
        now: () => clock,
        deliver: (_from, msg, _channel, via) => { if ('seq' in msg) got[i].push({ type: msg.type, seq: msg.seq, datagram: via.datagram }) }
      }))
    }
    const [a, b] = transports
    const idOf = (i: number): string => nodes[i].peerId.toString()
    const libp2pAddrs = (i: number): string[] => nodes[i].getMultiaddrs().map(x => x.toString())
    const udpOf = (i: number): string => `/ip4/127.0.0.1/udp/${channels[i].endpoints[0].port}`

    // b hears a's datagrams, so datagrams would be its way of answering a.
    assert.ok(await a.send({ to: idOf(1), addrs: [udpOf(1), ...libp2pAddrs(1)], msg: { type: 'ping', seq: 1 } }))
    await until('the first ping', () => got[1].length === 1)
    assert.equal(got[1], [{ type: 'ping', seq: 1, datagram: true }])

    // b's UDP port now drops what comes in: the ping is lost, its fallback arrives over libp2p.
    const toB = { to: idOf(1), addrs: [holeAddr, ...libp2pAddrs(1)] }
    const toA = { to: idOf(0), addrs: [holeAddr, ...libp2pAddrs(0)] }
    /** One probe of b whose datagram is lost and whose fallback b answers, as the core would (reliable). */
    const lostThenFallback = async (seq: number): Promise<void> => {
      const [inB, inA, dropped] = [got[1].length, got[0].length, swallowed]
      assert.ok(await a.send({ ...toB, msg: { type: 'ping', seq } }))
      assert.ok(await a.send({ ...toB, msg: { type: 'ping', seq }, reliable: true }))
      await until(`fallback ping ${seq}`, () => got[1].length === inB + 1 && swallowed === dropped + 1)
      assert.equal(got[1][inB], { type: 'ping', seq, datagram: false })
      // The answer goes over libp2p, not to a's advertised UDP port (also dropping).
      assert.ok(await b.send({ ...toA, msg: { type: 'ack', seq }, reliable: true }))
      await until(`answer ${seq}`, () => got[0].length === inA + 1)
      assert.equal(got[0][inA], { type: 'ack', seq, datagram: false })
    }
    await lostThenFallback(2)
    assert.is(a.stats.datagrams.fallbacks, 1)
    // An answer not marked so goes as a datagram, into the drop.
    const [inA, dropped] = [got[0].length, swallowed]
    assert.ok(await b.send({ ...toA, msg: { type: 'ack', seq: 3 } }))
    await until('the dropped answer', () => swallowed === dropped + 1)
    assert.is(got[0].length, inA)

    // One answered fallback may be a late datagram ack; a datagram answer in between resets the count.
    await lostThenFallback(10)
    assert.not.ok(a.datagramsBypassed(idOf(1)))
    assert.ok(await b.send({ to: idOf(0), addrs: [udpOf(0), ...libp2pAddrs(0)], msg: { type: 'ack', seq: 11 } }))
    await until('a datagram answer', () => got[0].at(-1)?.seq === 11)
    assert.is(got[0].at(-1)?.datagram, true)
    await lostThenFallback(12)
    await lostThenFallback(13)
    assert.not.ok(a.datagramsBypassed(idOf(1)), 'two in a row since the datagram answer')
    await lostThenFallback(14)

    // The fallback was answered: b's datagram path is broken, so a probes b over libp2p.
    assert.ok(a.datagramsBypassed(idOf(1)))
    assert.not.ok(b.datagramsBypassed(idOf(0)), 'b sent no fallback')
    assert.is(a.stats.datagrams.bypasses, 1)
    const toBReal = { to: idOf(1), addrs: [udpOf(1), ...libp2pAddrs(1)] }
    const datagramsBefore = a.stats.datagrams.sent
    assert.ok(await a.send({ ...toBReal, msg: { type: 'ping', seq: 4 } }))
    await until('the bypassing ping', () => got[1].at(-1)?.seq === 4)
    assert.equal(got[1].at(-1), { type: 'ping', seq: 4, datagram: false })
    assert.is(a.stats.datagrams.sent, datagramsBefore)
    // Its fallback would repeat it on the same path: not sent.
    const probesBefore = a.stats.sent.probe
    assert.ok(await a.send({ ...toBReal, msg: { type: 'ping', seq: 4 }, reliable: true }))
    assert.is(a.stats.sent.probe, probesBefore)
    assert.is(a.stats.datagrams.fallbacks, 5)
    // Later, datagrams are tried again.
    clock += DATAGRAM_BYPASS_MS
    assert.not.ok(a.datagramsBypassed(idOf(1)))
    assert.ok(await a.send({ ...toBReal, msg: { type: 'ping', seq: 5 } }))
    await until('the datagram again', () => got[1].at(-1)?.seq === 5)
    assert.equal(got[1].at(-1), { type: 'ping', seq: 5, datagram: true })
    // To a member without a UDP address the first ping went over libp2p: no duplicate.
    const probesThen = a.stats.sent.probe
    assert.ok(await a.send({ to: idOf(1), addrs: libp2pAddrs(1), msg: { type: 'ping', seq: 6 }, reliable: true }))
    assert.is(a.stats.sent.probe, probesThen)
    assert.is(a.stats.datagrams.fallbacks, 5)
  } finally {
    await Promise.allSettled(transports.map(async t => { await t.stop() }))
    await Promise.allSettled(channels.map(async c => { await c.stop() }))
    await stopNodes(nodes)
    hole.close()
  }
})


test('an update reaches a connected, subscribed peer that gossipsub has no outbound stream to yet: it goes directly on the probe channel', async () => {
  const nodes = await startLocalNodes(2, 'memory')
  const transports: MembershipTransport[] = []
  try {
    const [publisher, receiver] = nodes
    const got: Array<{ type: string, channel: string }> = []
    transports.push(await startTransport({ node: publisher, deliver: () => {} }))
    transports.push(await startTransport({ node: receiver, deliver: (_from, msg, channel) => { got.push({ type: msg.type, channel }) } }))
    await publisher.dial(receiver.getMultiaddrs())
    const pubsub = publisher.services.pubsub
    // The class behind the GossipSub interface keeps its outbound streams here.
    const outbound = (pubsub as unknown as { streamsOutbound: Map<string, unknown> }).streamsOutbound
    const receiverId = receiver.peerId.toString()
    await until('the receiver subscribed, with an outbound stream to it', () =>
      pubsub.getSubscribers(MEMBERS_TOPIC).some(p => p.toString() === receiverId) && outbound.has(receiverId))

    // Over the mesh first: gossipsub reaches it, and nothing else is sent.
    const suspect = (incarnation: number): GossipMessage => ({ type: 'suspect', id: 'someone', incarnation, from: publisher.peerId.toString() })
    assert.is(await transports[0].publish(suspect(1)), 1)
    await until('the gossip copy', () => got.length === 1)
    assert.equal(got, [{ type: 'suspect', channel: 'gossip' }])
    assert.is(transports[0].stats.sent.probe, 0, 'no direct copy to a peer the publish reached')

    // A seed starved of CPU opens its outbound stream seconds after it hears the
    // subscription; gossipsub then skips the peer without a word. Same state here:
    const stream = outbound.get(receiverId)
    outbound.delete(receiverId)
    try {
      assert.is(await transports[0].publish(suspect(2)), 1, 'the direct copy is the one recipient')
      await until('the direct copy', () => got.length === 2)
      assert.equal(got[1], { type: 'suspect', channel: 'probe' })
    } finally {
      if (stream !== undefined) outbound.set(receiverId, stream)
    }
  } finally {
    await Promise.allSettled(transports.map(async t => { await t.stop() }))
    await stopNodes(nodes)
  }
})

test.run()
