// Starts N in-process nodes for tests and benchmarks: memory transport (unique
// /memory/<uuid> addresses, the address space is process-global) or TCP on
// 127.0.0.1 with an OS-assigned port.
import { randomUUID } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createNode, type RingleaderNode } from './create-node.js'
import type { PrivateKey } from '@libp2p/interface'

export type LocalTransport = 'memory' | 'tcp'

/** `privateKey`: the node's identity, for tests that sign with it too (default: a new one). */
export async function startLocalNode (transport: LocalTransport = 'memory', privateKey?: PrivateKey): Promise<RingleaderNode> {
  privateKey ??= await generateKeyPair('Ed25519')
  const listen = transport === 'memory' ? [`/memory/${randomUUID()}`] : ['/ip4/127.0.0.1/tcp/0']
  return await createNode({ privateKey, listen })
}

export async function startLocalNodes (count: number, transport: LocalTransport = 'memory'): Promise<RingleaderNode[]> {
  const nodes: RingleaderNode[] = []
  try {
    for (let i = 0; i < count; i++) nodes.push(await startLocalNode(transport))
  } catch (err) {
    await stopNodes(nodes)
    throw err
  }
  return nodes
}

/** Stops every node; one failing stop does not keep the others running. */
export async function stopNodes (nodes: RingleaderNode[]): Promise<void> {
  await Promise.allSettled(nodes.map(async n => { await n.stop() }))
}
