// CPU one libp2p connection costs (both ends, one process): dial, noise handshake,
// yamux, identify, gossipsub's stream, close. Compares, in interleaved rounds so
// drift hits all alike: the library's noise X25519 (PKCS#8/SPKI DER imports) and
// libp2p's debug loggers (`library`); agent/net/noise-crypto.ts with those loggers
// (`fastCryptoDebugLoggers`); and the agent's own configuration, which also gives
// libp2p the silent logger (`agent`, agent/net/libp2p-logger.ts). Prints JSON.
//
//   node build/bench/connection-cost.js [--cycles 200] [--rounds 4]
import '../agent/polyfill.js'
import { parseArgs } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { createNode, type RingleaderNode } from '../agent/net/create-node.js'
import { fastNoiseCrypto } from '../agent/net/noise-crypto.js'
import { silentLogger } from '../agent/net/libp2p-logger.js'
import { defaultLogger } from '@libp2p/logger'
import type { ComponentLogger } from '@libp2p/interface'

const { values } = parseArgs({ options: { cycles: { type: 'string', default: '200' }, rounds: { type: 'string', default: '4' } }, strict: true })
const cycles = Number(values.cycles)
const rounds = Number(values.rounds)
if (!Number.isInteger(cycles) || cycles < 1 || !Number.isInteger(rounds) || rounds < 1) throw new Error('--cycles and --rounds must be positive integers')

const TOPIC = 'bench'
const SETTLE_MS = 30 // identify and gossipsub's subscription exchange run after the dial returns
const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

async function pair (crypto: ICryptoInterface, logger: ComponentLogger): Promise<[RingleaderNode, RingleaderNode]> {
  const make = async (): Promise<RingleaderNode> => {
    const node = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], noiseCrypto: crypto, logger })
    node.services.pubsub.subscribe(TOPIC)
    return node
  }
  return [await make(), await make()]
}

async function cycle (from: RingleaderNode, to: RingleaderNode): Promise<void> {
  const connection = await from.dial(to.getMultiaddrs()[0])
  await sleep(SETTLE_MS)
  await connection.close()
  await sleep(5)
}

/** CPU milliseconds per connection over `n` cycles (the idle timers in between count too, alike for both). */
async function measure (nodes: [RingleaderNode, RingleaderNode], n: number): Promise<number> {
  const before = process.cpuUsage()
  for (let i = 0; i < n; i++) await cycle(nodes[0], nodes[1])
  const used = process.cpuUsage(before)
  return (used.user + used.system) / 1000 / n
}

const variants: Record<string, [RingleaderNode, RingleaderNode]> = {
  library: await pair(defaultCrypto, defaultLogger()),
  fastCryptoDebugLoggers: await pair(fastNoiseCrypto, defaultLogger()),
  agent: await pair(fastNoiseCrypto, silentLogger())
}
for (const nodes of Object.values(variants)) await measure(nodes, 30) // warm the JIT
const perRound: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map(k => [k, []]))
for (let r = 0; r < rounds; r++) {
  for (const [name, nodes] of Object.entries(variants)) perRound[name].push(await measure(nodes, cycles))
}
for (const nodes of Object.values(variants)) await Promise.all(nodes.map(async n => await n.stop()))
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const round1 = (x: number): number => Math.round(x * 10) / 10
console.log(JSON.stringify({
  cycles,
  rounds,
  cpuMsPerConnection: Object.fromEntries(Object.entries(perRound).map(([k, v]) => [k, { median: round1(median(v)), rounds: v.map(round1) }]))
}))
