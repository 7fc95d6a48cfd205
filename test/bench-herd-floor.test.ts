// bench/herd-floor.ts, small: the floor it reports for docs/benchmarks.md § N = 50
// must come from a herd that converged, for both ways of spreading, and a process
// given a bad command must say so instead of dying.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const bench = fileURLToPath(new URL('../bench/herd-floor.js', import.meta.url))
const nodeScript = fileURLToPath(new URL('../bench/lib/herd-floor-node.js', import.meta.url))

interface Figures { spread: string, allKnowAllMs: number | null, medianMs: number | null, boxCpuSeconds: number, repairs: number, errors: number }

test('4 processes join one seed: every one knows all 4 ids, by gossip and by direct messages', () => {
  const r = spawnSync(process.execPath, [bench, '--nodes', '4', '--rounds', '1', '--timeout-seconds', '30'], { encoding: 'utf8', timeout: 120_000 })
  assert.is(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout) as { nodes: number, results: Figures[] }
  assert.is(out.nodes, 4)
  assert.equal(out.results.map(x => x.spread), ['gossip', 'direct'])
  for (const x of out.results) {
    assert.ok(typeof x.allKnowAllMs === 'number' && x.allKnowAllMs > 0 && x.allKnowAllMs < 30_000, `${x.spread}: converged (${String(x.allKnowAllMs)})`)
    assert.ok((x.medianMs as number) <= (x.allKnowAllMs as number), `${x.spread}: median ≤ last`)
    assert.is(x.errors, 0, x.spread)
    assert.ok(x.boxCpuSeconds >= 0, x.spread)
  }
})

test('bad arguments are refused with a clear error', () => {
  const r = spawnSync(process.execPath, [bench, '--spread', 'carrier-pigeon'], { encoding: 'utf8', timeout: 30_000 })
  assert.is.not(r.status, 0)
  assert.match(r.stderr, /--spread: a comma-separated list of gossip, direct/)
})

test('a floor process reports a bad command and keeps running', async () => {
  const child = spawn(process.execPath, [nodeScript, '--role', 'joiner', '--nodes', '2', '--spread', 'direct'], { stdio: ['pipe', 'pipe', 'inherit'] })
  try {
    const reports: Array<Record<string, unknown>> = []
    createInterface({ input: child.stdout }).on('line', (l) => { reports.push(JSON.parse(l) as Record<string, unknown>) })
    const next = async (): Promise<Record<string, unknown>> => {
      const deadline = Date.now() + 30_000
      while (reports.length === 0) {
        if (Date.now() > deadline) throw new Error('no report from the floor process within 30 s')
        await new Promise(resolve => setTimeout(resolve, 20))
      }
      return reports.shift() as Record<string, unknown>
    }
    assert.type((await next()).ready, 'string')
    child.stdin.write('not json\n')
    assert.match(String((await next()).error), /bad command/)
    child.stdin.write(JSON.stringify({ go: '/not/a/multiaddr' }) + '\n')
    assert.match(String((await next()).error), /bad command/)
    const exited = once(child, 'exit')
    child.stdin.end() // still alive: it answers the end of its commands with its repair count
    assert.equal(await next(), { repairs: 0 })
    const [code] = await Promise.race([exited, new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error('no exit within 10 s')), 10_000).unref())])
    assert.is(code, 0)
  } finally {
    child.kill('SIGKILL')
  }
})

test.run()
