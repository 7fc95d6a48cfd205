// Membership with real agent processes on 127.0.0.1: join through one seed,
// kill -9, SIGSTOP/SIGCONT, leave, force-leave, restart, device changes, and a
// hostile peer. One cluster is shared by the tests in order; every wait is bounded.
import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { lpStream } from '@libp2p/utils'
import { createNode, type RingleaderNode } from '../agent/net/create-node.js'
import { sendRequest } from '../agent/net/request-response.js'
import { ProtocolError } from '../agent/net/errors.js'
import { MEMBERS_TOPIC, PROBE_PROTOCOL, SYNC_PROTOCOL } from '../agent/membership/transport.js'
import { encodeMembershipMessage, MAX_PROBE_BYTES } from '../protocol/wire/index.js'
import { createSocket } from 'node:dgram'
import { encodeSignedPart } from '../agent/net/datagram-envelope.js'
import { signBytes, signingKey } from '../agent/net/ed25519-keys.js'
import { startAgent, runCli, waitFor, cleanupAgents, type AgentProcess } from './helpers/agent-process.js'

interface Row { id: string, status: string, incarnation: number, addrs: string[], devices: Array<{ name: string, weight: number }> }
interface Datagrams { endpoints: Array<{ host: string, port: number }>, sent: number, received: number, rejected: Record<string, number> }
interface Status { nodeId: string, listen: string[], checksum: string, incarnation: number, members: Record<string, number>, membership: { rejected: Record<string, number>, rejectReasons: Record<string, number>, inBand: { answered: number, received: number }, connections: number, connectionsOpened: { inbound: number, outbound: number }, datagrams?: Datagrams, sent: Record<string, number> } }

const N = 5
const agents: AgentProcess[] = []
const ids: string[] = []
let seedAddr = ''
let hostile: RingleaderNode | undefined

const members = async (a: AgentProcess): Promise<Row[]> => await a.query('members') as Row[]
const status = async (a: AgentProcess): Promise<Status> => await a.query('status') as Status
const statusOf = async (a: AgentProcess, id: string): Promise<Row | undefined> => (await members(a)).find(r => r.id === id)

/** Waits until every agent in `on` sees member `id` satisfy `pred`. */
async function everyoneSees (what: string, on: AgentProcess[], id: string, pred: (r: Row | undefined) => boolean, timeoutMs = 15_000): Promise<void> {
  await waitFor(what, async () => {
    const rows = await Promise.all(on.map(async a => await statusOf(a, id)))
    return rows.every(pred)
  }, timeoutMs, 100)
}

test.after(async () => {
  try { await hostile?.stop() } catch { /* already stopped */ }
  await cleanupAgents()
})

test('5 agents join through one seed: every node lists 5 alive and all checksums match', async () => {
  const seed = await startAgent({ args: ['--log-level', 'warn'] })
  agents.push(seed)
  const s = await status(seed)
  seedAddr = s.listen.find(a => a.includes('/tcp/')) as string
  // The others join by host:port form too, which --join must accept… as a multiaddr
  // here, since the config layer validates --join as a multiaddr.
  // One agent probes over libp2p only (--probe-udp off): the others reach it that
  // way, and it them, while they probe each other by datagram.
  const rest = await Promise.all(Array.from({ length: N - 1 }, async (_, i) =>
    await startAgent({ args: ['--log-level', 'warn', '--join', i % 2 === 0 ? seedAddr : seedAddr.replace(/\/p2p\/.*$/, ''), '--device', `sd${i}:${10 * (i + 1)}`, ...(i === 0 ? ['--probe-udp', 'off'] : [])] })))
  agents.push(...rest)
  for (const a of agents) ids.push((await status(a)).nodeId)
  await waitFor('all 5 alive everywhere with one checksum', async () => {
    const all = await Promise.all(agents.map(status))
    return all.every(x => x.members.alive === N) && new Set(all.map(x => x.checksum)).size === 1
  }, 20_000, 100)
  const rows = await members(agents[3])
  assert.is(rows.length, N)
  assert.equal(rows.find(r => r.id === ids[2])?.devices, [{ name: 'sd1', weight: 20 }])
  // Connections opened since start, by direction: every joiner dialled the seed.
  const seedNow = (await status(seed)).membership
  assert.ok(seedNow.connectionsOpened.inbound >= N - 1, `the seed took the ${N - 1} joins' connections: ${JSON.stringify(seedNow.connectionsOpened)}`)
  assert.ok(seedNow.connections <= seedNow.connectionsOpened.inbound + seedNow.connectionsOpened.outbound, 'open now ≤ opened since start')
  // Probes: by datagram between the agents that have them, over libp2p with the one that does not.
  const udpAddr = (r: Row | undefined): boolean => r?.addrs.some(a => /^\/ip4\/127\.0\.0\.1\/udp\/\d+$/.test(a)) === true
  assert.ok(udpAddr(rows.find(r => r.id === ids[0])), 'the seed advertises its UDP address')
  assert.not.ok(udpAddr(rows.find(r => r.id === ids[1])), 'the agent with --probe-udp off advertises none')
  await waitFor('probe datagrams both ways, and probes over libp2p to the agent without', async () => {
    const all = await Promise.all(agents.map(status))
    return all.every((x, i) => i === 1 ? x.membership.datagrams === undefined && x.membership.sent.probe > 0 : (x.membership.datagrams?.sent ?? 0) > 0 && (x.membership.datagrams?.received ?? 0) > 0 && x.membership.sent.probe > (x.membership.datagrams?.sent ?? 0))
  }, 10_000, 100)
})

test('agent join through the socket answers after push-pull, and refuses a bad address clearly', async () => {
  const before = (await status(agents[2])).membership.inBand.received
  const r = await runCli(['join', seedAddr, '--data-dir', agents[2].dataDir, '--json'])
  assert.is(r.code, 0, r.stderr)
  assert.equal((JSON.parse(r.stdout) as { joined: string[] }).joined, [ids[0]])
  // The seed's answer came back in the push-pull's own response, not a request of its own.
  assert.ok((await status(agents[2])).membership.inBand.received > before, 'the join reply arrived in-band')
  assert.ok((await status(agents[0])).membership.inBand.answered >= N - 1, 'the seed answered the joins in-band')
  const bad = await runCli(['join', 'not a host:99999', '--data-dir', agents[2].dataDir])
  assert.is(bad.code, 1)
  assert.match(bad.stderr, /join-failed/)
})

test('device add/set/remove on one node is visible on the others, with a higher incarnation', async () => {
  const a = agents[1]
  const before = (await statusOf(agents[4], ids[1]))?.incarnation ?? -1
  let r = await runCli(['device', 'add', 'sdz:7.5', '--data-dir', a.dataDir])
  assert.is(r.code, 0, r.stderr)
  await everyoneSees('sdz on every node', agents, ids[1], x => x?.devices.some(d => d.name === 'sdz' && d.weight === 7.5) === true)
  r = await runCli(['device', 'set', 'sdz', '3', '--data-dir', a.dataDir])
  assert.is(r.code, 0, r.stderr)
  await everyoneSees('sdz re-weighted', agents, ids[1], x => x?.devices.some(d => d.name === 'sdz' && d.weight === 3) === true)
  r = await runCli(['device', 'remove', 'sdz', '--data-dir', a.dataDir])
  assert.is(r.code, 0, r.stderr)
  await everyoneSees('sdz removed', agents, ids[1], x => x !== undefined && !x.devices.some(d => d.name === 'sdz'))
  assert.ok(((await statusOf(agents[4], ids[1]))?.incarnation ?? -1) >= before + 3)
  // Bad input changes nothing.
  r = await runCli(['device', 'set', 'sdz', '1', '--data-dir', a.dataDir])
  assert.is(r.code, 1)
  assert.match(r.stderr, /unknown-device/)
  r = await runCli(['device', 'add', 'sdq:-1', '--data-dir', a.dataDir])
  assert.is(r.code, 2)
  const bad = await a.query('device', { op: 'add', name: 'sdq', weight: Number.MAX_VALUE }).then(() => undefined, (err: Error & { code?: string }) => err.code)
  assert.is(bad, 'invalid-device')
})

test('a peer sending garbage on the topic and the probe/sync protocols is rejected and counted; the cluster stays healthy', async () => {
  const hostileKey = await generateKeyPair('Ed25519')
  hostile = await createNode({ privateKey: hostileKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
  const seedId = peerIdFromString(ids[0])
  await hostile.dial(multiaddr(seedAddr))
  hostile.services.pubsub.subscribe(MEMBERS_TOPIC)
  const before = (await status(agents[0])).membership.rejected
  // Wait until the seed knows we subscribe, then publish: not CBOR, a wrong version, an unknown type, oversized.
  await waitFor('the seed to see our subscription', () => hostile?.services.pubsub.getSubscribers(MEMBERS_TOPIC).some(p => p.equals(seedId)) === true, 10_000)
  const garbage = [
    new Uint8Array([0xff, 0x00, 0x13]),
    encodeMembershipMessage({ type: 'ping', seq: 1 }), // not a gossip type
    new Uint8Array([0x83, 0x09, 0x65, 0x61, 0x6c, 0x69, 0x76, 0x65, 0xa0]), // [9, "alive", {}]: unknown version
    new Uint8Array(5000)
  ]
  for (const g of garbage) await hostile.services.pubsub.publish(MEMBERS_TOPIC, g).catch(() => {})
  // Sync is request-response: the seed answers why. The probe channel is fire and
  // forget (no answers, like UDP): garbage is dropped and counted, then an oversized
  // frame closes the stream.
  const err = await sendRequest(hostile, seedId, SYNC_PROTOCOL, encodeMembershipMessage({ type: 'ping', seq: 9 }), { timeoutMs: 3000 }).then(() => undefined, (e: unknown) => e)
  assert.instance(err, ProtocolError)
  assert.is((err as ProtocolError).remoteCode, 'bad-message')
  const probe = await hostile.dialProtocol(seedId, PROBE_PROTOCOL)
  const lp = lpStream(probe)
  await lp.write(new Uint8Array([1, 2, 3]))
  await lp.write(new Uint8Array(MAX_PROBE_BYTES + 1)).catch(() => {})
  await probe.close().catch(() => {})
  // Datagrams to the seed's probe port: garbage, a forged signature, and, signed by
  // us, an update (those come over libp2p only) and an ack that answers nothing of its.
  const seedUdp = (await status(agents[0])).membership.datagrams?.endpoints[0]
  assert.ok(seedUdp !== undefined)
  const udp = createSocket('udp4')
  const signed = (payload: Uint8Array): Buffer => {
    const part = encodeSignedPart({ from: hostile?.peerId.toString() ?? '', to: ids[0], nonce: new Uint8Array(8), echo: new Uint8Array(8), payload })
    return Buffer.concat([part, signBytes(signingKey(hostileKey), part)])
  }
  const forged = signed(encodeMembershipMessage({ type: 'ping', seq: 1 }))
  forged[forged.byteLength - 1] ^= 1
  const datagrams = [
    Buffer.from([0xff, 0x00, 0x13]),
    forged,
    signed(encodeMembershipMessage({ type: 'left', id: ids[1], incarnation: 99, from: ids[1] })),
    signed(encodeMembershipMessage({ type: 'ack', seq: 1 }))
  ]
  try {
    for (const d of datagrams) await new Promise<void>(resolve => { udp.send(d, seedUdp.port, '127.0.0.1', () => { resolve() }) })
  } finally {
    udp.close()
  }
  await waitFor('rejection counters to rise', async () => {
    const m = (await status(agents[0])).membership
    const r = m.rejected
    return r.gossip >= before.gossip + 3 && r.probe > before.probe && r.sync > before.sync &&
      m.datagrams?.rejected.malformed === 1 && m.datagrams.rejected['bad-signature'] === 1 &&
      m.rejectReasons['not-a-probe'] === 1 && m.rejectReasons['stale-answer'] === 1
  }, 5_000)
  const all = await Promise.all(agents.map(status))
  assert.ok(all.every(x => x.members.alive === N), 'still 5 alive')
  assert.is(new Set(all.map(x => x.checksum)).size, 1)
  await hostile.stop()
  hostile = undefined
})

test('kill -9: every survivor marks it dead; force-leave is refused on a live node and retires the dead one', async () => {
  const victim = agents[4]
  const survivors = agents.slice(0, 4)
  const t0 = Date.now()
  victim.child.kill('SIGKILL')
  await everyoneSees('the killed node dead everywhere', survivors, ids[4], r => r?.status === 'dead', 15_000)
  const detectMs = Date.now() - t0
  assert.ok(detectMs < 10_000, `detected in ${detectMs} ms`)
  const refused = await runCli(['force-leave', ids[3], '--data-dir', agents[0].dataDir])
  assert.is(refused.code, 1)
  assert.match(refused.stderr, /member-alive/)
  const ok = await runCli(['force-leave', ids[4], '--data-dir', agents[0].dataDir])
  assert.is(ok.code, 0, ok.stderr)
  await everyoneSees('the dead node left everywhere', survivors, ids[4], r => r?.status === 'left', 10_000)
})

test('SIGSTOP: suspect then dead; SIGCONT: it refutes and is alive again with a higher incarnation', async () => {
  const frozen = agents[3]
  const others = agents.slice(0, 3)
  const inc0 = (await statusOf(agents[0], ids[3]))?.incarnation ?? -1
  let sawSuspect = false
  frozen.child.kill('SIGSTOP')
  try {
    await waitFor('the frozen node dead everywhere', async () => {
      const rows = await Promise.all(others.map(async a => await statusOf(a, ids[3])))
      if (rows.some(r => r?.status === 'suspect')) sawSuspect = true
      return rows.every(r => r?.status === 'dead')
    }, 15_000, 50)
  } finally {
    frozen.child.kill('SIGCONT')
  }
  assert.ok(sawSuspect, 'suspect was seen before dead')
  await everyoneSees('the thawed node alive again', [...others, frozen], ids[3], r => r?.status === 'alive' && r.incarnation > inc0, 20_000)
})

test('leave shows as left everywhere and the agent exits 0', async () => {
  const leaver = agents[2]
  const r = await runCli(['leave', '--data-dir', leaver.dataDir])
  assert.is(r.code, 0, r.stderr)
  const exit = await Promise.race([leaver.exited, new Promise<undefined>(resolve => { setTimeout(() => { resolve(undefined) }, 10_000) })])
  assert.equal(exit, { code: 0, signal: null })
  await everyoneSees('left everywhere', [agents[0], agents[1], agents[3]], ids[2], x => x?.status === 'left', 10_000)
})

test('restart with the same data dir: alive again with a higher incarnation', async () => {
  const old = agents[1]
  const inc0 = (await statusOf(agents[0], ids[1]))?.incarnation ?? -1
  await old.stop('SIGTERM')
  const again = await startAgent({ dataDir: old.dataDir, args: ['--log-level', 'warn', '--join', seedAddr, '--device', 'sdr:1'] })
  agents[1] = again
  assert.is((await status(again)).nodeId, ids[1])
  await everyoneSees('the restarted node alive', [agents[0], agents[3], again], ids[1], x => x?.status === 'alive' && x.incarnation > inc0, 15_000)
  // Its meta comes from the new flags, not from the old gossip.
  await everyoneSees('the new devices', [agents[0], agents[3]], ids[1], x => JSON.stringify(x?.devices) === JSON.stringify([{ name: 'sdr', weight: 1 }]), 5_000)
})

test.run()
