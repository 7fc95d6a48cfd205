// One agent process: start-up time (spawn → the status socket answers with a node
// id), idle RSS after --idle-s seconds (VmRSS from /proc/<pid>/status), and the
// time SIGTERM takes to a clean exit. Prints JSON.
//
//   node build/bench/agent-idle.js [--runs 3] [--idle-s 10] [--entry build/agent/cli.js | --exe dist/agent]
//
// --entry runs a script with this node; --exe runs an executable (the packaged agent).
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { callAgent } from '../agent/socket/client.js'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    'idle-s': { type: 'string', default: '10' },
    entry: { type: 'string' },
    exe: { type: 'string' }
  },
  strict: true
})
const runs = Number(values.runs)
const idleMs = Number(values['idle-s']) * 1000
if (!Number.isInteger(runs) || runs < 1 || !(idleMs >= 0)) throw new Error('--runs must be a positive integer and --idle-s >= 0')
const entry = resolve(values.exe ?? values.entry ?? join(dirname(fileURLToPath(import.meta.url)), '../agent/cli.js'))
const command = values.exe !== undefined ? [entry] : [process.execPath, entry]

async function memoryKb (pid: number): Promise<{ rssKb: number, hwmKb: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8')
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN)
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') }
}

interface Run { startupMs: number, idleRssMb: number, peakRssMb: number, stopMs: number, exitCode: number | null }

async function once (): Promise<Run> {
  const base = await mkdtemp(join(tmpdir(), 'rl-bench-'))
  const dataDir = join(base, 'd')
  const started = performance.now()
  const child = spawn(command[0], [...command.slice(1), 'start', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] })
  const exited = new Promise<number | null>(resolve => child.once('close', resolve))
  try {
    const deadline = Date.now() + 20_000
    let startupMs = NaN
    while (Date.now() < deadline) {
      try {
        const s = await callAgent(join(dataDir, 'agent.sock'), 'status', {}, { timeoutMs: 1000 }) as { nodeId: string | null }
        if (s.nodeId !== null) { startupMs = performance.now() - started; break }
      } catch { /* not up yet */ }
      await new Promise(resolve => setTimeout(resolve, 5))
    }
    if (Number.isNaN(startupMs)) throw new Error('agent did not answer within 20 s')
    await new Promise(resolve => setTimeout(resolve, idleMs))
    const mem = await memoryKb(child.pid as number)
    const stopStart = performance.now()
    child.kill('SIGTERM')
    const exitCode = await exited
    return { startupMs: Math.round(startupMs), idleRssMb: +(mem.rssKb / 1024).toFixed(1), peakRssMb: +(mem.hwmKb / 1024).toFixed(1), stopMs: Math.round(performance.now() - stopStart), exitCode }
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL')
    await rm(base, { recursive: true, force: true })
  }
}

const results: Run[] = []
for (let i = 0; i < runs; i++) results.push(await once())
const pick = (k: keyof Run): number[] => results.map(r => Number(r[k])).sort((a, b) => a - b)
const median = (xs: number[]): number => xs[Math.floor(xs.length / 2)]
console.log(JSON.stringify({
  bench: 'agent-idle',
  node: process.version,
  entry,
  runs,
  idleSeconds: idleMs / 1000,
  median: { startupMs: median(pick('startupMs')), idleRssMb: median(pick('idleRssMb')), peakRssMb: median(pick('peakRssMb')), stopMs: median(pick('stopMs')) },
  results
}, null, 2))
