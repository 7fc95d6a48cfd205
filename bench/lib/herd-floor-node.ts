// One process of bench/herd-floor.ts: the agent's libp2p node (createNode: TCP,
// noise, yamux, identify, gossipsub with the agent's settings) and nothing of the
// membership protocol. The seed answers each join request with every id it knows
// and spreads the newcomer's id; a joiner asks the seed once and then listens.
// Commands arrive on stdin and reports leave on stdout, one JSON object a line:
//   → {"ready": addr, "id": id}     after start and a warm-up
//   ← {"go": seedAddr}               (joiners) join now
//   → {"done": true}                 this node knows every one of the N ids
//   → {"repairs": n}                 on stdin's end, before exiting: repair asks made
//
//   node herd-floor-node.js --role seed|joiner --nodes N --spread gossip|direct
import '../../agent/polyfill.js'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { createNode, type RingleaderNode } from '../../agent/net/create-node.js'
import { openGossipTopic } from '../../agent/net/gossip-topic.js'
import { openMessageChannel, type MessageChannel } from '../../agent/net/message-channel.js'
import { sendRequest, serveRequestResponse } from '../../agent/net/request-response.js'
import { dialSeed } from '../../agent/net/join-address.js'

const JOIN_PROTOCOL = '/ringleader-bench/floor-join/1.0.0'
const SPREAD_PROTOCOL = '/ringleader-bench/floor-spread/1.0.0'
const TOPIC = 'ringleader-bench/floor/1'
/** A joiner short of ids that hears nothing new for this long asks the seed again. */
const REPAIR_AFTER_MS = 500

const { values } = parseArgs({
  options: {
    role: { type: 'string' },
    nodes: { type: 'string' },
    spread: { type: 'string', default: 'gossip' }
  },
  strict: true
})
const role = values.role
const nodes = Number(values.nodes)
const spread = values.spread
if (role !== 'seed' && role !== 'joiner') throw new Error('--role: seed or joiner')
if (!Number.isInteger(nodes) || nodes < 2 || nodes > 1000) throw new Error('--nodes: an integer 2..1000')
if (spread !== 'gossip' && spread !== 'direct') throw new Error('--spread: gossip or direct')

const report = (o: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(o) + '\n') }
const encodeIds = (ids: Iterable<string>): Uint8Array => new TextEncoder().encode([...ids].join('\n'))
const decodeIds = (bytes: Uint8Array): string[] => new TextDecoder().decode(bytes).split('\n').filter(s => s !== '')

async function start (): Promise<{ node: RingleaderNode, topic: ReturnType<typeof openGossipTopic> }> {
  const node = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
  return { node, topic: openGossipTopic(node.services.pubsub, TOPIC) }
}

/**
 * Runs the code paths of a join once on this process's own pair of nodes, so the
 * herd meets compiled code as the agent's bundle, shipped with V8's code cache,
 * does. Without it the floor would include every process compiling the stack.
 */
async function warmUp (node: RingleaderNode): Promise<void> {
  const other = await start()
  const server = await serveRequestResponse(other.node, JOIN_PROTOCOL + '/warm', async (req) => req)
  try {
    for (let i = 0; i < 2; i++) {
      const connection = await node.dial(other.node.getMultiaddrs()[0])
      await sendRequest(node, other.node.peerId, JOIN_PROTOCOL + '/warm', encodeIds(['warm']))
      await new Promise(resolve => setTimeout(resolve, 50))
      await other.topic.publish(encodeIds(['warm', String(i)])).catch(() => [])
      await connection.close()
    }
  } finally {
    await server.stop()
    other.topic.close()
    await other.node.stop()
  }
}

const { node, topic } = await start()
await warmUp(node)
const self = node.peerId.toString()
const known = new Set<string>([self])
let doneReported = false
let repairs = 0
const learn = (ids: Iterable<string>): void => {
  for (const id of ids) known.add(id)
  if (!doneReported && known.size >= nodes) { doneReported = true; report({ done: true }) }
}

// Both spreads need it: gossip sends on it to the peers its publish did not reach.
const channel: MessageChannel = await openMessageChannel(node, SPREAD_PROTOCOL, { maxMessageBytes: 4096, sendTimeoutMs: 10_000, maxQueued: 1024, onMessage: (_from, bytes) => { learn(decodeIds(bytes)); noteNews() } })
topic.onMessage((bytes) => { learn(decodeIds(bytes)); noteNews() })

// Repair: a joiner short of ids asks the seed again once nothing new came for a while.
let seed: PeerId | undefined
let repairTimer: NodeJS.Timeout | undefined
function noteNews (): void {
  if (role !== 'joiner' || seed === undefined || doneReported) return
  clearTimeout(repairTimer)
  repairTimer = setTimeout(() => { void ask() }, REPAIR_AFTER_MS)
}
/** Asks the seed for every id it knows (the join request and each repair). */
async function askSeed (peer: PeerId): Promise<void> {
  learn(decodeIds(await sendRequest(node, peer, JOIN_PROTOCOL, encodeIds([self]), { timeoutMs: 30_000 })))
}

async function join (addr: Multiaddr): Promise<void> {
  // As the agent's join dials (MembershipService.join): a busy seed refuses handshakes beyond its limit.
  const connection = await dialSeed(node, { multiaddr: addr }, { retries: 10, backoffMs: 200, dialTimeoutMs: 3000, budgetMs: 35_000, unreachableRetries: 2 })
  seed = connection.remotePeer
  await askSeed(seed)
  noteNews()
}

async function ask (): Promise<void> {
  if (seed === undefined || doneReported) return
  repairs++
  try { await askSeed(seed) } catch { /* the next repair asks again */ }
  noteNews()
}

/**
 * The seed's announcement of a newcomer to everyone connected. Gossipsub writes only
 * to peers whose subscription it has heard and to which its own stream is open, so,
 * as the agent does (agent/membership/transport.ts, sendToUnreached), the peers its
 * publish skipped get the message directly; without that a joiner of the herd waited
 * for a repair.
 */
async function spreadNews (id: string): Promise<void> {
  const news = encodeIds([id])
  const reached = new Set(spread === 'gossip' ? await topic.publish(news).catch(() => []) : [])
  reached.add(id)
  for (const c of node.getConnections()) {
    const peer = c.remotePeer.toString()
    if (reached.has(peer)) continue
    reached.add(peer)
    void channel.send(c.remotePeer, news)
  }
}

if (role === 'seed') {
  await serveRequestResponse(node, JOIN_PROTOCOL, async (_req, from) => {
    const id = from.toString()
    const isNew = !known.has(id)
    learn([id])
    const reply = encodeIds(known)
    if (isNew) void spreadNews(id)
    return reply
  }, { maxRequestBytes: 4096, maxResponseBytes: 1 << 20, timeoutMs: 30_000, maxInboundStreams: 64, maxConcurrent: 64 })
}

report({ ready: node.getMultiaddrs()[0].toString(), id: self })

const commands = createInterface({ input: process.stdin })
commands.on('line', (line) => {
  let addr: Multiaddr
  try {
    const cmd = JSON.parse(line) as { go?: unknown }
    if (role !== 'joiner' || typeof cmd.go !== 'string') throw new Error('expected {"go": "<seed multiaddr>"} (joiners only)')
    addr = multiaddr(cmd.go)
  } catch (err) {
    report({ error: `bad command ${JSON.stringify(line.slice(0, 200))}: ${String(err)}` })
    return
  }
  void join(addr).catch(err => { report({ error: String(err) }) })
})
commands.on('close', () => {
  report({ repairs })
  clearTimeout(repairTimer)
  void Promise.resolve(node.stop()).finally(() => process.exit(0))
})
