import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { chmod, copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { packageAgent, type PackageResult } from '../agent/package-sea.js'
import { injectSeaBlob, SeaInjectError, SEA_FUSE } from '../agent/sea-inject.js'
import { VERSION } from '../agent/version.js'
import { AGENT_ENV, AGENT_NODE_FLAGS } from '../agent/node-flags.js'
import { callAgent } from '../agent/socket/client.js'
import { CODE_PREFIX } from '../agent/bundle-loader.js'
import { trainCodeCache } from '../agent/code-cache-training.js'
import { makeTempDir, waitFor, cleanupAgents } from './helpers/agent-process.js'

let pkg: PackageResult

test.before(async () => { pkg = await packageAgent(await makeTempDir()) })
test.after(async () => { await cleanupAgents() })

async function run (cmd: string, args: string[], timeoutMs = 15_000): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
  const code = await new Promise<number | null>(resolve => child.once('close', resolve))
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** Starts `program start`, checks status through the socket and through `program status`, then SIGTERM → 0. */
async function startQueryStop (program: string, whileRunning?: (pid: number) => void): Promise<void> {
  const version = await run(program, ['--version'])
  assert.is(version.code, 0, version.stderr)
  assert.is(version.stdout.trim(), VERSION)

  const dataDir = join(await makeTempDir(), 'd')
  const agent = spawn(program, ['start', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  agent.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  const exited = new Promise<number | null>(resolve => agent.once('close', resolve))
  try {
    const status = await waitFor(`${program} to answer`, async () => {
      const s = await callAgent(join(dataDir, 'agent.sock'), 'status', {}, { timeoutMs: 1000 }) as { nodeId: string | null }
      return s.nodeId !== null ? s : undefined
    }, 15_000)
    assert.match(String(status.nodeId), /^12D3KooW/)
    if (whileRunning !== undefined && agent.pid !== undefined) whileRunning(agent.pid)
    const cli = await run(program, ['status', '--data-dir', dataDir, '--json'])
    assert.is(cli.code, 0, cli.stderr)
    assert.is((JSON.parse(cli.stdout) as { version: string }).version, VERSION)
    agent.kill('SIGTERM')
    assert.is(await exited, 0, stderr)
  } finally {
    if (agent.exitCode === null) agent.kill('SIGKILL')
  }
}

test('the bundle launcher (dist/agent-node) runs the agent: polyfill first, version inlined', async () => {
  assert.ok(pkg.bundleBytes > 100_000)
  await startQueryStop(pkg.launcher, pid => {
    // The launcher execs node (same pid) with the memory settings of agent/node-flags.ts.
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    for (const flag of AGENT_NODE_FLAGS) assert.ok(argv.includes(flag), `${flag} in ${argv.join(' ')}`)
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
    // An operator's own setting wins over the default.
    for (const [k, v] of Object.entries(AGENT_ENV)) assert.ok(env.includes(`${k}=${process.env[k] ?? v}`), `${k}=${process.env[k] ?? v} in the agent's environment`)
  })
})

test('the bundle is ASCII, so V8 holds its source at one byte a character', () => {
  const bytes = readFileSync(pkg.code)
  const first = bytes.findIndex(b => b > 0x7f)
  assert.is(first, -1, `non-ASCII byte at ${first}: ${bytes.subarray(Math.max(0, first - 40), first + 10).toString('utf8')}`)
})

/** Starts the agent, returns its status and stderr once it has started, then kills it. */
interface CodeCacheStatus { nodeId: string | null, codeCache?: { state: string, reason?: string, bytes?: number } }

async function startedStatus (cmd: string, args: string[]): Promise<{ status: CodeCacheStatus, stderr: string }> {
  const dataDir = join(await makeTempDir(), 'd')
  const agent = spawn(cmd, [...args, 'start', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  agent.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  try {
    const status = await waitFor(`${cmd} to answer`, async () => {
      const s = await callAgent(join(dataDir, 'agent.sock'), 'status', {}, { timeoutMs: 1000 }) as CodeCacheStatus
      return s.nodeId !== null ? s : undefined
    }, 15_000)
    return { status, stderr }
  } finally {
    agent.kill('SIGKILL')
  }
}

test('the package carries a code cache made at package time, and V8 takes it', async () => {
  assert.is(pkg.codeCacheProblem, undefined)
  assert.ok(pkg.codeCacheBytes > 500_000, `${pkg.codeCacheBytes} bytes`)
  const { status } = await startedStatus(pkg.launcher, [])
  assert.is(status.codeCache?.state, 'accepted', JSON.stringify(status.codeCache))
  assert.is(status.codeCache?.bytes, pkg.codeCacheBytes - 80) // the seal's header
})

test('a damaged, foreign or missing code cache only costs speed: the agent runs and says why', async () => {
  const dir = await makeTempDir()
  for (const f of ['agent.mjs', 'agent-code.cjs', 'agent-code.cache']) await copyFile(join(pkg.code, '..', f), join(dir, f))
  const entry = join(dir, 'agent.mjs')
  const sealed = await readFile(join(dir, 'agent-code.cache'))

  // Other V8 flags than the training's: V8 refuses it itself.
  const rejected = await startedStatus(process.execPath, [entry])
  assert.is(rejected.status.codeCache?.state, 'rejected')

  const flipped = Buffer.from(sealed)
  flipped[flipped.length - 1000] ^= 0x01
  await writeFile(join(dir, 'agent-code.cache'), flipped)
  const damaged = await startedStatus(process.execPath, [...AGENT_NODE_FLAGS, entry])
  assert.equal(damaged.status.codeCache, { state: 'invalid', reason: 'payload checksum mismatch' })
  assert.match(damaged.stderr, /not using .*agent-code\.cache: payload checksum mismatch/)

  // The code changed under an intact cache (same length, so V8 alone would take it).
  await writeFile(join(dir, 'agent-code.cache'), sealed)
  const code = await readFile(join(dir, 'agent-code.cjs'))
  const space = code.indexOf(' ', CODE_PREFIX.length) // a space between tokens or in a message: a tab means the same
  code[space] = 0x09
  await writeFile(join(dir, 'agent-code.cjs'), code)
  const foreign = await startedStatus(process.execPath, [...AGENT_NODE_FLAGS, entry])
  assert.equal(foreign.status.codeCache, { state: 'invalid', reason: 'made for another build of the agent code' })

  await rm(join(dir, 'agent-code.cache'))
  const absent = await startedStatus(process.execPath, [...AGENT_NODE_FLAGS, entry])
  assert.equal(absent.status.codeCache, { state: 'absent' })
})

test('a training run that cannot finish leaves no cache and no agent behind', async () => {
  const dir = await makeTempDir()
  for (const f of ['agent.mjs', 'agent-code.cjs', 'agent-code.cache']) await copyFile(join(pkg.code, '..', f), join(dir, f))
  // Too short to start even one agent: the training gives up, and the cache that was
  // there (from another build, as far as it knows) is gone rather than left beside the code.
  const err = await trainCodeCache(dir, { timeoutMs: 1 }).then(() => undefined, (e: unknown) => e as Error)
  assert.instance(err, Error)
  assert.match(String(err?.message), /code cache training: timed out waiting for agent 0 to start/, String(err?.message))
  assert.not.ok(existsSync(join(dir, 'agent-code.cache')))
  const running = readdirSync('/proc').filter(p => /^\d+$/.test(p)).filter(pid => {
    try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir) } catch { return false }
  })
  assert.equal(running, [])
})

test('dist/agent is a single executable on Linux and runs the agent by itself', async () => {
  if (process.platform !== 'linux') return
  assert.ok(pkg.sea, pkg.seaProblem)
  assert.ok(pkg.executableBytes > 10_000_000)
  await startQueryStop(pkg.executable)
})

test('the single executable carries its own code cache (trained by running it), and V8 takes it', async () => {
  if (!pkg.sea) return
  assert.is(pkg.seaCodeCacheProblem, undefined)
  assert.ok(pkg.seaCodeCacheBytes > 500_000, `${pkg.seaCodeCacheBytes} bytes`)
  const { status, stderr } = await startedStatus(pkg.executable, [])
  assert.equal(status.codeCache, { state: 'accepted', bytes: pkg.seaCodeCacheBytes - 80 }, stderr)
})

test('the single executable loads no code from node_modules folders around it', async () => {
  if (!pkg.sea) return
  // A planted module the agent would ask for (cbor-x tries cbor-extract at load).
  const dir = await makeTempDir()
  const planted = join(dir, 'node_modules', 'cbor-extract')
  await mkdir(planted, { recursive: true })
  await writeFile(join(planted, 'package.json'), '{"name":"cbor-extract","main":"index.js"}')
  await writeFile(join(planted, 'index.js'), "require('fs').writeFileSync(require('path').join(__dirname, '..', '..', 'LOADED'), 'x')")
  await copyFile(pkg.executable, join(dir, 'agent'))
  await chmod(join(dir, 'agent'), 0o755)
  const { status } = await startedStatus(join(dir, 'agent'), [])
  assert.is(status.codeCache?.state, 'accepted')
  assert.not.ok(existsSync(join(dir, 'LOADED')), 'the planted module ran')
})

test('the single executable runs `dev` by re-running itself', async () => {
  if (!pkg.sea) return
  const child = spawn(pkg.executable, ['dev', '--nodes', '1'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { out += s })
  const exited = new Promise<number | null>(resolve => child.once('close', resolve))
  const killer = setTimeout(() => { child.kill('SIGKILL') }, 30_000)
  try {
    await waitFor('the dev banner', () => out.includes('Press Ctrl-C'), 20_000)
    assert.ok(out.includes(`"agent" is: ${pkg.executable}`), out)
    child.kill('SIGINT')
    assert.is(await exited, 0, out)
  } finally {
    clearTimeout(killer)
  }
})

test('injectSeaBlob refuses what it cannot handle', () => {
  const refuses = (image: Buffer, pattern: RegExp): void => {
    try {
      injectSeaBlob(image, Buffer.from('x'))
      assert.unreachable('accepted')
    } catch (err) {
      assert.instance(err, SeaInjectError)
      assert.match((err as Error).message, pattern)
    }
  }
  refuses(Buffer.from('#!/bin/sh\necho hi\n'.padEnd(100)), /not an ELF/)
  if (process.platform !== 'linux') return
  const injected = readFileSync(pkg.executable)
  refuses(injected, /already has a SEA blob/)
  assert.ok(injected.includes(Buffer.from(`${SEA_FUSE}:1`)))
})

test.run()
