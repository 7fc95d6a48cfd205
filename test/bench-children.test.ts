// Benchmarks must not leave their core-loading busy loops or agents behind
// (bench/lib/children.ts): a stopped benchmark's busy loops once kept loading both
// cores for every measurement after it.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

const childrenModule = fileURLToPath(new URL('../bench/lib/children.js', import.meta.url))
const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

async function gone (pid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs
  while (Date.now() < deadline) {
    if (!alive(pid)) return true
    await sleep(50)
  }
  return !alive(pid)
}

/** A stand-in benchmark: starts a busy loop and a tracked `sleep`, prints their pids, then waits. */
async function fakeBenchmark (): Promise<{ bench: ChildProcess, loop: number, sleeper: number }> {
  const script = `
    import { spawn } from 'node:child_process'
    import { spawnBusyLoop, track } from '${childrenModule}'
    const loop = spawnBusyLoop()
    const sleeper = track(spawn('sleep', ['60'], { stdio: 'ignore' }))
    console.log(JSON.stringify({ loop: loop.pid, sleeper: sleeper.pid }))
    setInterval(() => {}, 1000)
  `
  const bench = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const [line] = await Promise.race([
    once(bench.stdout as NodeJS.ReadableStream, 'data') as Promise<[Buffer]>,
    sleep(10_000).then(() => { throw new Error('the stand-in benchmark did not start') })
  ])
  const pids = JSON.parse(line.toString()) as { loop: number, sleeper: number }
  return { bench, ...pids }
}

test('a benchmark stopped with SIGTERM takes its busy loops and tracked children with it', async () => {
  const { bench, loop, sleeper } = await fakeBenchmark()
  assert.ok(alive(loop) && alive(sleeper))
  bench.kill('SIGTERM')
  assert.ok(await gone(loop, 5000), 'busy loop still running')
  assert.ok(await gone(sleeper, 5000), 'tracked child still running')
})

test('a benchmark killed with SIGKILL still does not leave its busy loops running', async () => {
  const { bench, loop, sleeper } = await fakeBenchmark()
  bench.kill('SIGKILL')
  assert.ok(await gone(loop, 5000), 'busy loop outlived its parent')
  process.kill(sleeper, 'SIGKILL') // nothing can clean up after a SIGKILL but the child itself
})

test.run()
