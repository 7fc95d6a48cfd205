// How many copies of each gossip message a node receives with our mesh degree
// (MESH_DEGREE) and with gossipsub's default, on the same kind of overlay the agent
// keeps (each node dials --links random others). Every copy costs a decrypt, a
// frame, a protobuf decode and a duplicate check. In-process, memory transport.
// Prints JSON.
//
//   node build/bench/gossip-fanout.js [--nodes 30] [--links 8] [--messages 100] [--mesh D,Dlo,Dhi,Dscore,Dout,Dlazy]…
//
// Each --mesh adds a variant to the two compared.
import '../agent/polyfill.js'
import { parseArgs } from 'node:util'
import { randomUUID } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createNode, MESH_DEGREE, type MeshDegree, type RingleaderNode } from '../agent/net/create-node.js'
import { stopNodes } from '../agent/net/local-cluster.js'

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '30' }, links: { type: 'string', default: '8' }, messages: { type: 'string', default: '100' }, mesh: { type: 'string', multiple: true } }, strict: true })
const n = Number(values.nodes)
const links = Number(values.links)
const messages = Number(values.messages)
if (!Number.isInteger(n) || n < 3 || n > 200 || !Number.isInteger(links) || links < 1 || links >= n || !Number.isInteger(messages) || messages < 1) {
  throw new Error('--nodes 3..200, --links 1..nodes-1, --messages >= 1 (integers)')
}

const extraMeshes = (values.mesh ?? []).map((spec): MeshDegree => {
  const v = spec.split(',').map(Number)
  if (v.length !== 6 || !v.every(x => Number.isInteger(x) && x >= 0 && x <= 50)) throw new Error(`--mesh ${spec}: six integers 0..50, D,Dlo,Dhi,Dscore,Dout,Dlazy`)
  const [D, Dlo, Dhi, Dscore, Dout, Dlazy] = v
  if (!(Dlo <= D && D <= Dhi && Dout < Dlo && Dout <= D / 2)) throw new Error(`--mesh ${spec}: gossipsub needs Dlo ≤ D ≤ Dhi, Dout < Dlo and Dout ≤ D/2`)
  return { D, Dlo, Dhi, Dscore, Dout, Dlazy }
})

const TOPIC = 'fanout'
/** gossipsub's own defaults, the comparison. */
const GOSSIPSUB_DEFAULT_MESH_DEGREE: Readonly<MeshDegree> = { D: 6, Dlo: 4, Dhi: 12, Dscore: 4, Dout: 2, Dlazy: 6 }
const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1] }

async function run (mesh: MeshDegree): Promise<Record<string, number>> {
  const copies = new Array<number>(n).fill(0)
  const delivered = new Array<number>(n).fill(0)
  const nodes: RingleaderNode[] = []
  try {
    for (let i = 0; i < n; i++) {
      const node = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: [`/memory/${randomUUID()}`], meshDegree: mesh, onGossipCopy: () => { copies[i]++ } })
      node.services.pubsub.subscribe(TOPIC)
      node.services.pubsub.addEventListener('message', () => { delivered[i]++ })
      nodes.push(node)
    }
    for (let i = 0; i < n; i++) {
      const picked = new Set<number>()
      while (picked.size < links) {
        const j = Math.floor(Math.random() * n)
        if (j !== i) picked.add(j)
      }
      await Promise.all([...picked].map(async j => await nodes[i].dial(nodes[j].getMultiaddrs()[0]).catch(() => undefined)))
    }
    await sleep(4000) // a few heartbeats: grafts, then pruning down to the bounds
    const meshSizes = nodes.map(node => (node.services.pubsub as unknown as { getMeshPeers: (t: string) => string[] }).getMeshPeers(TOPIC).length)
    const connections = nodes.map(node => node.getConnections().length)
    copies.fill(0)
    for (let m = 0; m < messages; m++) {
      await nodes[Math.floor(Math.random() * n)].services.pubsub.publish(TOPIC, new TextEncoder().encode(`message ${m}`))
      await sleep(20)
    }
    await sleep(2000)
    const totalCopies = copies.reduce((a, b) => a + b, 0)
    const totalDelivered = delivered.reduce((a, b) => a + b, 0)
    return {
      D: mesh.D,
      Dhi: mesh.Dhi,
      connectionsMedian: median(connections),
      meshSizeMedian: median(meshSizes),
      meshSizeMax: Math.max(...meshSizes),
      copiesPerMessagePerNode: Math.round(totalCopies / messages / n * 100) / 100,
      deliveredFraction: Math.round(totalDelivered / (messages * (n - 1)) * 1000) / 1000
    }
  } finally { await stopNodes(nodes) }
}

const results = []
const variants: Array<[string, MeshDegree]> = [['gossipsub default', GOSSIPSUB_DEFAULT_MESH_DEGREE], ['ours (MESH_DEGREE)', MESH_DEGREE], ...extraMeshes.map((m): [string, MeshDegree] => [`--mesh ${Object.values(m).join(',')}`, m])]
for (const [name, mesh] of variants) {
  results.push({ mesh: name, ...await run(mesh) })
}
console.log(JSON.stringify({ bench: 'gossip-fanout', node: process.version, nodes: n, links, messages, results }, null, 2))
process.exit(0)
