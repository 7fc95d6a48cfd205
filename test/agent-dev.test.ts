import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { CLI_PATH, runCli, waitFor, cleanupAgents } from './helpers/agent-process.js'

test.after(async () => { await cleanupAgents() })

test('agent dev --nodes 2 runs two agents that bootstrap one cluster map, install identical rings, run the hook; SIGTERM stops all', async () => {
  const child = spawn(process.execPath, [CLI_PATH, 'dev', '--nodes', '2'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { out += s })
  const exited = new Promise<number | null>(resolve => child.once('close', code => { resolve(code) }))
  const killer = setTimeout(() => { child.kill('SIGKILL') }, 40_000)
  try {
    await waitFor('the dev cluster banner', () => out.includes('Press Ctrl-C'), 30_000)
    const dirs = [...out.matchAll(/agent status --data-dir (\S+)/g)].map(m => m[1])
    assert.is(dirs.length, 2, out)
    const statuses = await Promise.all(dirs.map(async dir => {
      const r = await runCli(['status', '--data-dir', dir, '--json'])
      assert.is(r.code, 0, r.stderr)
      return JSON.parse(r.stdout) as { nodeId: string, pid: number, state: string }
    }))
    assert.is.not(statuses[0].nodeId, statuses[1].nodeId)
    assert.is.not(statuses[0].pid, statuses[1].pid)
    assert.ok(statuses.every(s => s.state === 'ready'), JSON.stringify(statuses))
    for (const name of ['account', 'container', 'object']) {
      const files = dirs.map(dir => readFileSync(join(dir, 'rings', `${name}.ring.gz`)))
      assert.ok(files[0].equals(files[1]), `${name}.ring.gz identical on both nodes`)
    }
    for (const dir of dirs) assert.match(readFileSync(join(dir, 'hook.log'), 'utf8'), /epoch 1 installed/)

    child.kill('SIGTERM')
    assert.is(await exited, 0, out)
    assert.match(out, /All agents stopped/)
    for (const dir of dirs) assert.not.ok(existsSync(dir), `${dir} removed`)
  } finally {
    clearTimeout(killer)
    if (child.exitCode === null) child.kill('SIGKILL')
  }
})

test.run()
