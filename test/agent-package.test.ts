import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { bundleAgent } from '../agent/package-sea.js'
import { callAgent } from '../agent/socket/client.js'
import { makeTempDir, waitFor, cleanupAgents } from './helpers/agent-process.js'

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

test('the single-file bundle and its launcher run the agent (polyfill first, version inlined)', async () => {
  const out = await makeTempDir()
  const r = await bundleAgent(out)
  assert.ok(r.bytes > 100_000)
  const pkgVersion = (await import('../agent/version.js')).VERSION
  const version = await run(r.launcher, ['--version'])
  assert.is(version.code, 0, version.stderr)
  assert.is(version.stdout.trim(), pkgVersion)

  const dataDir = join(await makeTempDir(), 'd')
  const agent = spawn(r.launcher, ['start', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  agent.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  const exited = new Promise<number | null>(resolve => agent.once('close', resolve))
  try {
    const status = await waitFor('the bundled agent', async () => {
      const s = await callAgent(join(dataDir, 'agent.sock'), 'status', {}, { timeoutMs: 1000 }) as { nodeId: string | null }
      return s.nodeId !== null ? s : undefined
    }, 15_000)
    assert.match(String(status.nodeId), /^12D3KooW/)
    const cli = await run(r.launcher, ['status', '--data-dir', dataDir, '--json'])
    assert.is(cli.code, 0, cli.stderr)
    assert.is((JSON.parse(cli.stdout) as { version: string }).version, pkgVersion)
    agent.kill('SIGTERM')
    assert.is(await exited, 0, stderr)
  } finally {
    if (agent.exitCode === null) agent.kill('SIGKILL')
  }
})

test.run()
