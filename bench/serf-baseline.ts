// Serf on this box, alone: join and failure-detection times at N nodes.
//   node build/bench/serf-baseline.js [--nodes 5] [--runs 3]
import { parseArgs } from 'node:util'
import { SerfCluster, serfAvailable } from './lib/serf-cluster.js'

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '5' }, runs: { type: 'string', default: '3' } } })
const nodes = Number(values.nodes)
const runs = Number(values.runs)
if (!serfAvailable()) { console.log(JSON.stringify({ skipped: 'serf not installed (apt-get install serf)' })); process.exit(0) }
const results = []
for (let r = 0; r < runs; r++) {
  const cluster = new SerfCluster()
  try {
    await cluster.start(nodes)
    const joinMs = await cluster.joinAllThroughSeed()
    if (joinMs === null) { results.push({ run: r, converged: false, missingJoins: cluster.missingJoins() }); continue }
    await new Promise(resolve => setTimeout(resolve, 1000))
    const rssKb = cluster.rssKb()
    const detect = await cluster.killAndDetect(nodes - 1)
    results.push({ run: r, joinMs: Math.round(joinMs), detectAllMs: Math.round(detect.allMs), detectFirstMs: Math.round(detect.firstMs), falsePositives: cluster.falsePositives(), rssMbMax: Math.max(...rssKb) / 1024 })
  } finally { await cluster.stop() }
}
console.log(JSON.stringify({ peer: 'serf', nodes, results }, null, 1))
