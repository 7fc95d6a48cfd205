import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cleanRingDir, installEpoch, InstallError, installRings, readInstalled, resumeHook } from '../agent/installer.js'
import { runHook } from '../agent/hook-runner.js'
import { blobCid } from '../protocol/map/blob-cid.js'

const dirs: string[] = []
async function freshDir (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rl-install-'))
  dirs.push(dir)
  return dir
}

const env = { RINGLEADER_EPOCH: '1', RINGLEADER_RING_DIR: '/nonexistent', RINGLEADER_RINGS: 'object' }

test('installs, skips unchanged files, rewrites changed ones', async () => {
  const ringDir = await freshDir()
  const first = await installRings(ringDir, [{ name: 'object', bytes: Buffer.from('obj v1') }, { name: 'account', bytes: Buffer.from('acc v1') }], 1)
  assert.equal(first.written.sort(), ['account', 'object'])
  const before = await stat(join(ringDir, 'account.ring.gz'))
  const second = await installRings(ringDir, [{ name: 'object', bytes: Buffer.from('obj v2') }, { name: 'account', bytes: Buffer.from('acc v1') }], 2)
  assert.equal(second.written, ['object'])
  assert.equal(second.unchanged, ['account'])
  assert.is((await stat(join(ringDir, 'account.ring.gz'))).ino, before.ino) // untouched, not rewritten
  assert.is(await readFile(join(ringDir, 'object.ring.gz'), 'utf8'), 'obj v2')
  assert.equal((await readdir(ringDir)).sort(), ['account.ring.gz', 'object.ring.gz'])
})

test('rejects bad names, duplicates and epochs before touching anything', async () => {
  const ringDir = await freshDir()
  for (const [rings, epoch] of [[[{ name: '../x', bytes: Buffer.from('') }], 1], [[{ name: 'a', bytes: Buffer.from('') }, { name: 'a', bytes: Buffer.from('') }], 1], [[], 0]] as const) {
    try {
      await installRings(ringDir, rings, epoch)
      assert.unreachable('bad input accepted')
    } catch (err) {
      assert.instance(err, InstallError)
      assert.is((err as InstallError).code, 'INSTALL_BAD_INPUT')
    }
  }
  assert.equal(await readdir(ringDir), [])
})

const installerUrl = new URL('../agent/installer.js', import.meta.url).href

// The child installs two alternating 4 MB contents for ever; it is kill -9'd at a random moment.
const childCode = `
import { installRings } from ${JSON.stringify(installerUrl)}
const [ringDir] = process.argv.slice(1)
const a = Buffer.alloc(4 << 20, 0x61), b = Buffer.alloc(4 << 20, 0x62)
for (let i = 1; ; i++) {
  await installRings(ringDir, [{ name: 'object', bytes: i % 2 ? a : b }], i)
  if (i === 1) process.stdout.write('ready\\n')
}`

async function killMidInstall (ringDir: string, delayMs: number): Promise<void> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', childCode, ringDir], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise<void>(resolve => child.on('exit', () => resolve()))
  await new Promise<void>((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error('child never became ready')), 10_000)
    child.stdout.on('data', () => { clearTimeout(guard); resolve() })
  })
  await new Promise(resolve => setTimeout(resolve, delayMs))
  child.kill('SIGKILL')
  await exited
}

test('kill -9 mid-install leaves the old or the new file, never a partial one; temps go at next start', async () => {
  const ringDir = await freshDir()
  let sawTemp = 0
  for (const delay of [3, 17, 31, 53, 97]) {
    await killMidInstall(ringDir, delay)
    const names = await readdir(ringDir)
    if (names.some(n => n.startsWith('.'))) sawTemp++
    const bytes = await readFile(join(ringDir, 'object.ring.gz'))
    assert.is(bytes.length, 4 << 20)
    assert.ok(bytes.every(x => x === bytes[0]) && (bytes[0] === 0x61 || bytes[0] === 0x62), 'file mixes old and new content')
    await cleanRingDir(ringDir)
    assert.equal(await readdir(ringDir), ['object.ring.gz'])
  }
  console.log(`  (kill -9 landed with a temp file present in ${sawTemp} of 5 rounds)`)
})

test('installEpoch records the epoch durably and runs the hook with its environment', async () => {
  const dataDir = await freshDir()
  const ringDir = join(await freshDir(), 'swift')
  const out = join(dataDir, 'hook-env.txt')
  const rings = [{ name: 'object', bytes: Buffer.from('o') }, { name: 'container', bytes: Buffer.from('c') }]
  const hook = { cmd: `printf '%s|%s|%s|%s' "$RINGLEADER_EPOCH" "$RINGLEADER_RING_DIR" "$RINGLEADER_RINGS" "$RINGLEADER_CHANGED" > ${JSON.stringify(out)}`, timeoutMs: 5000 }
  const r = await installEpoch({ dataDir, ringDir, epoch: 4, rings, hook, now: 1234 })
  assert.ok(r.hook?.ok)
  assert.is(await readFile(out, 'utf8'), `4|${ringDir}|object,container|object,container`)
  assert.equal(await readInstalled(dataDir), { version: 1, epoch: 4, rings: { object: blobCid(Buffer.from('o')), container: blobCid(Buffer.from('c')) }, installedAt: 1234 })
  // same epoch again, nothing changed: no hook
  const again = await installEpoch({ dataDir, ringDir, epoch: 4, rings, hook, now: 1300 })
  assert.is(again.hook, undefined)
  // a new epoch with identical rings still fires the hook (operators hook "state changed")
  const next = await installEpoch({ dataDir, ringDir, epoch: 5, rings, hook, now: 1400 })
  assert.ok(next.hook?.ok)
  assert.is(await readFile(out, 'utf8'), `5|${ringDir}|object,container|`)
  await writeFile(join(dataDir, 'installed.json'), '{"version":1,"epoch":"five"}')
  try {
    await readInstalled(dataDir)
    assert.unreachable('corrupt record accepted')
  } catch (err) {
    assert.is((err as InstallError).code, 'INSTALLED_CORRUPT')
  }
})

test('kill -9 while the hook runs: the next start runs the hook again for that epoch (at least once)', async () => {
  const dataDir = await freshDir()
  const ringDir = join(dataDir, 'rings')
  const marks = join(dataDir, 'marks.txt')
  const started = join(dataDir, 'started')
  // The child installs epoch 7 and runs a hook that marks its start, then hangs.
  const installer = fileURLToPath(new URL('../agent/installer.js', import.meta.url))
  const script = `const { installEpoch } = await import(${JSON.stringify(installer)})
await installEpoch({ dataDir: ${JSON.stringify(dataDir)}, ringDir: ${JSON.stringify(ringDir)}, epoch: 7, now: 1,
  rings: [{ name: 'object', bytes: Buffer.from('seven') }],
  hook: { cmd: 'touch ${started}; sleep 30; echo never >> ${marks}', timeoutMs: 60000 } })`
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore', detached: true })
  const deadline = Date.now() + 10_000
  while (!(await stat(started).then(() => true, () => false))) {
    assert.ok(Date.now() < deadline, 'the hook started')
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  process.kill(-(child.pid as number), 'SIGKILL') // the agent and its hook die together
  await new Promise(resolve => child.once('exit', resolve))
  const rec = await readInstalled(dataDir)
  assert.is(rec?.epoch, 7)
  assert.equal(rec?.hookPending, ['object'])

  const hook = { cmd: `echo "$RINGLEADER_EPOCH $RINGLEADER_CHANGED" >> ${JSON.stringify(marks)}`, timeoutMs: 5000 }
  const again = await resumeHook({ dataDir, ringDir, hook })
  assert.ok(again?.ok)
  assert.is(await readFile(marks, 'utf8'), '7 object\n')
  assert.is((await readInstalled(dataDir))?.hookPending, undefined)
  assert.is(await resumeHook({ dataDir, ringDir, hook }), undefined, 'owed once, run once')
  assert.is(await readFile(marks, 'utf8'), '7 object\n')
})

test('hook failure is reported with its exit code and output tail', async () => {
  const r = await runHook('echo to-stdout; echo to-stderr >&2; exit 3', env, 5000)
  assert.not.ok(r.ok)
  assert.is(r.code, 3)
  assert.not.ok(r.timedOut)
  assert.match(r.output, /to-stdout/)
  assert.match(r.output, /to-stderr/)
  const big = await runHook('head -c 100000 /dev/zero | tr "\\\\0" x; echo END', env, 5000, { maxOutputBytes: 1000 })
  assert.ok(big.ok)
  assert.is(big.output.length, 1000)
  assert.ok(big.output.endsWith('END\n'))
  const empty = await runHook('  ', env, 5000)
  assert.not.ok(empty.ok)
  assert.match(empty.error ?? '', /empty/)
})

/** Running, as opposed to gone or a zombie (this box's init does not always reap orphans). */
async function isRunning (pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

test('hook timeout kills the whole process group, is bounded and never blocks the event loop', async () => {
  const dir = await freshDir()
  const pidFile = join(dir, 'grandchild.pid')
  let ticks = 0
  const ticker = setInterval(() => { ticks++ }, 10)
  const started = Date.now()
  const r = await runHook(`sleep 30 & echo $! > ${JSON.stringify(pidFile)}; wait`, env, 300, { killGraceMs: 200 })
  clearInterval(ticker)
  const elapsed = Date.now() - started
  assert.ok(r.timedOut)
  assert.not.ok(r.ok)
  assert.ok(elapsed < 2000, `took ${elapsed} ms`)
  assert.ok(ticks >= 10, `event loop ticked only ${ticks} times`)
  const grandchild = Number(await readFile(pidFile, 'utf8'))
  let alive = true
  for (let i = 0; i < 50 && alive; i++) { // bounded: up to ~1 s for the signal to land
    alive = await isRunning(grandchild)
    if (alive) await new Promise(resolve => setTimeout(resolve, 20))
  }
  assert.not.ok(alive, 'grandchild survived the timeout')
})

test('a hook that ignores SIGTERM is SIGKILLed after the grace period', async () => {
  const r = await runHook("trap '' TERM; sleep 30", env, 200, { killGraceMs: 200 })
  assert.ok(r.timedOut)
  assert.ok(r.ms < 2000, `took ${r.ms} ms`)
})

test.after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

test.run()
