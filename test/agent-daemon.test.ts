import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { existsSync, statSync, writeFileSync, readFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { createServer } from 'node:net'
import { randomUUID } from 'node:crypto'
import { startAgent, runCli, makeTempDir, cleanupAgents, freePort } from './helpers/agent-process.js'
import { startDaemon, type Component } from '../agent/daemon.js'
import { resolveConfig } from '../agent/config.js'
import { createLogger } from '../agent/log.js'
import { callAgent } from '../agent/socket/client.js'

test.after(async () => { await cleanupAgents() })

test('status answers through the CLI (table and --json) and the raw socket; files are private', async () => {
  const agent = await startAgent()
  const raw = await agent.query('status') as Record<string, unknown>
  assert.match(String(raw.nodeId), /^12D3KooW/)
  // A lone agent that nobody bootstrapped holds no cluster map: it is syncing, not ready.
  assert.is(raw.state, 'syncing')
  assert.is(raw.pid, agent.pid)
  assert.is(raw.dataDir, agent.dataDir)
  assert.ok(Array.isArray(raw.listen) && (raw.listen as string[]).some(a => a.startsWith('/ip4/127.0.0.1/tcp/')))
  assert.type(raw.uptimeMs, 'number')
  assert.type(raw.version, 'string')
  const mem = raw.memory as { rssMb: number, heapUsedMb: number, heapTotalMb: number }
  assert.ok(mem.rssMb > 10 && mem.rssMb < 1024, `rss ${mem.rssMb} MB`)
  assert.ok(mem.heapUsedMb > 0 && mem.heapUsedMb <= mem.heapTotalMb)

  const json = await runCli(['status', '--data-dir', agent.dataDir, '--json'])
  assert.is(json.code, 0, json.stderr)
  assert.is((JSON.parse(json.stdout) as Record<string, unknown>).nodeId, raw.nodeId)

  const table = await runCli(['status'], { env: { RINGLEADER_DATA_DIR: agent.dataDir } })
  assert.is(table.code, 0, table.stderr)
  assert.match(table.stdout, new RegExp(`node id\\s+${String(raw.nodeId)}`))
  assert.match(table.stdout, /state\s+syncing/)

  assert.is(statSync(agent.socketPath).mode & 0o777, 0o600)
  assert.is(statSync(join(agent.dataDir, 'identity.key')).mode & 0o777, 0o600)
  assert.is(statSync(agent.dataDir).mode & 0o777, 0o700)
})

test('the node id survives a restart; SIGTERM exits 0 and removes socket and lock', async () => {
  const first = await startAgent()
  const id1 = (await first.query('status') as { nodeId: string }).nodeId
  const exit = await first.stop('SIGTERM')
  assert.equal(exit, { code: 0, signal: null })
  assert.not.ok(existsSync(first.socketPath), 'socket removed')
  assert.not.ok(existsSync(join(first.dataDir, 'agent.lock')), 'lock removed')
  assert.ok(existsSync(join(first.dataDir, 'identity.key')), 'identity kept')

  const second = await startAgent({ dataDir: first.dataDir })
  const id2 = (await second.query('status') as { nodeId: string }).nodeId
  assert.is(id2, id1)
  assert.equal(await second.stop('SIGINT'), { code: 0, signal: null })
})

test('a second agent on the same data dir is refused, touches nothing, and the first keeps answering', async () => {
  const first = await startAgent()
  const lockBefore = readFileSync(join(first.dataDir, 'agent.lock'), 'utf8')
  const keyBefore = readFileSync(join(first.dataDir, 'identity.key'))
  const sockIno = statSync(first.socketPath).ino

  const second = await runCli(['start', '--data-dir', first.dataDir, '--listen', '/ip4/127.0.0.1/tcp/0'])
  assert.is(second.code, 1)
  assert.match(second.stderr, /another agent is already running/)
  assert.match(second.stderr, new RegExp(`pid ${first.pid}`))
  assert.match(second.stderr, /Nothing was changed/)

  assert.is(readFileSync(join(first.dataDir, 'agent.lock'), 'utf8'), lockBefore)
  assert.ok(readFileSync(join(first.dataDir, 'identity.key')).equals(keyBefore))
  assert.is(statSync(first.socketPath).ino, sockIno)
  assert.is((await first.query('status') as { state: string }).state, 'syncing')
})

test('a kill -9 leaves a stale lock and socket; the next agent replaces both', async () => {
  const first = await startAgent()
  const id1 = (await first.query('status') as { nodeId: string }).nodeId
  assert.equal(await first.stop('SIGKILL'), { code: null, signal: 'SIGKILL' })
  assert.ok(existsSync(first.socketPath) && existsSync(join(first.dataDir, 'agent.lock')), 'leftovers present')

  const second = await startAgent({ dataDir: first.dataDir })
  assert.is((await second.query('status') as { nodeId: string }).nodeId, id1)
  assert.match(second.output().stderr, /replaced a stale lock/)
  assert.match(second.output().stderr, /replaced a stale socket file/)
})

test('a leftover regular file or a listener-less socket at agent.sock is replaced', async () => {
  const dir = join(await makeTempDir(), 'data')
  await mkdir(dir, { mode: 0o700 })
  writeFileSync(join(dir, 'agent.sock'), 'not a socket')
  const a = await startAgent({ dataDir: dir })
  assert.ok(statSync(a.socketPath).isSocket())
  assert.match(a.output().stderr, /replaced a stale socket file/)
  await a.stop()

  // A socket file whose listener died: a process bound it and was killed with -9.
  const dir2 = join(await makeTempDir(), 'data')
  await mkdir(dir2, { mode: 0o700 })
  const sockPath = join(dir2, 'agent.sock')
  const holder = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sockPath)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('helper did not bind in 5 s')) }, 5_000)
    holder.stdout.once('data', () => { clearTimeout(timer); resolve() })
  })
  holder.kill('SIGKILL')
  await new Promise(resolve => holder.once('close', resolve))
  assert.ok(statSync(sockPath).isSocket(), 'dead socket file left behind')
  const b = await startAgent({ dataDir: dir2 })
  assert.match(b.output().stderr, /replaced a stale socket file/)
  assert.ok((await b.query('status') as { nodeId: string }).nodeId.length > 40)
})

test('agent status with no agent exits 3, naming the data dir and how to start one', async () => {
  const dir = join(await makeTempDir(), 'none')
  const r = await runCli(['status', '--data-dir', dir])
  assert.is(r.code, 3)
  assert.ok(r.stderr.includes(`no agent is running with data dir ${dir}`), r.stderr)
  assert.ok(r.stderr.includes(`agent start --data-dir ${dir}`), r.stderr)
  assert.not.ok(existsSync(dir), 'a client command must not create the data dir')
})

test('a listen address in use fails with exit 1 naming it, and leaves no lock or socket', async () => {
  const port = await freePort()
  const holder = createServer()
  await new Promise<void>(resolve => { holder.listen(port, '127.0.0.1', resolve) })
  try {
    const dir = join(await makeTempDir(), 'data')
    const r = await runCli(['start', '--data-dir', dir, '--listen', `/ip4/127.0.0.1/tcp/${port}`])
    assert.is(r.code, 1)
    assert.ok(r.stderr.includes(`cannot listen on /ip4/127.0.0.1/tcp/${port}: EADDRINUSE`), r.stderr)
    assert.not.ok(existsSync(join(dir, 'agent.sock')))
    assert.not.ok(existsSync(join(dir, 'agent.lock')))
  } finally {
    await new Promise(resolve => holder.close(resolve))
  }
})

test('components start in order with the context, add commands and status fields, and stop in reverse', async () => {
  const dir = join(await makeTempDir(), 'data')
  const config = resolveConfig({ flags: { 'data-dir': dir, listen: [`/memory/${randomUUID()}`] }, env: {} })
  const events: string[] = []
  const component = (name: string): Component => ({
    name,
    start: (ctx) => {
      events.push(`start ${name}`)
      ctx.registry.register({ name: `echo-${name}`, summary: 'echo', args: { text: { type: 'string', required: true, description: 'what to echo' } }, handler: (args) => `${name}:${args.text}` })
      ctx.status.addField(`${name}Field`, () => 42)
    },
    stop: () => { events.push(`stop ${name}`) }
  })
  const log = createLogger({ level: 'error', format: 'json', write: () => {} })
  const daemon = await startDaemon({ config, log, components: [component('a'), component('b')] })
  assert.equal(events, ['start a', 'start b'])
  const socket = join(dir, 'agent.sock')
  assert.is(await callAgent(socket, 'echo-b', { text: 'hi' }), 'b:hi')
  const status = await callAgent(socket, 'status') as Record<string, unknown>
  assert.is(status.aField, 42)
  assert.is(status.state, 'ready')
  await daemon.stop()
  await daemon.stop()
  assert.equal(events, ['start a', 'start b', 'stop b', 'stop a'])
  assert.not.ok(existsSync(socket))
  assert.not.ok(existsSync(join(dir, 'agent.lock')))
})

test('a component that fails to start unwinds everything started before it', async () => {
  const dir = join(await makeTempDir(), 'data')
  const config = resolveConfig({ flags: { 'data-dir': dir, listen: [`/memory/${randomUUID()}`] }, env: {} })
  const events: string[] = []
  const log = createLogger({ level: 'error', format: 'json', write: () => {} })
  try {
    await startDaemon({
      config,
      log,
      components: [
        { name: 'ok', start: () => { events.push('start ok') }, stop: () => { events.push('stop ok') } },
        { name: 'broken', start: () => { throw Object.assign(new Error('no disk'), { code: 'ERR_TEST' }) }, stop: () => { events.push('stop broken') } }
      ]
    })
    assert.unreachable('daemon started')
  } catch (err) {
    assert.is((err as { code?: string }).code, 'ERR_TEST')
  }
  assert.equal(events, ['start ok', 'stop ok'])
  assert.not.ok(existsSync(join(dir, 'agent.sock')))
  assert.not.ok(existsSync(join(dir, 'agent.lock')))
})

test.run()
