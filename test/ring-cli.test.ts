import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runRingCommand } from '../agent/ring-cli.js'
import { parseDevicesFile, DevicesFileError } from '../agent/devices-file.js'
import { cidString } from '../ring/address.js'
import { decodeRingGz } from '../ring/format.js'
import { partitionFor, RingLookup } from '../ring/lookup.js'
import type { DeviceSpec } from '../ring/types.js'

const root = mkdtempSync(join(tmpdir(), 'ring-cli-'))
const NOW = Date.UTC(2026, 0, 1)

interface Run { code: number, stdout: string, stderr: string }

async function ring (...args: string[]): Promise<Run> {
  let stdout = ''
  let stderr = ''
  const code = await runRingCommand(args, { stdout: s => { stdout += s }, stderr: s => { stderr += s } }, { now: () => NOW })
  return { code, stdout, stderr }
}

function devices (count: number, extra: Partial<DeviceSpec> = {}): DeviceSpec[] {
  return Array.from({ length: count }, (_, i) => ({ region: 1 + (i % 2), zone: 1 + (i % 3), ip: `10.0.${i % 3}.${1 + (i % 4)}`, port: 6200, device: `sd${i}`, weight: 100, ...extra }))
}

function writeJson (name: string, value: unknown): string {
  const path = join(root, name)
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value, null, 2))
  return path
}

/** Names and bytes of every file in `dir`, to prove a failed command changed nothing. */
function snapshot (dir: string): Record<string, string> {
  if (!existsSync(dir)) return {}
  return Object.fromEntries(readdirSync(dir).sort().map(n => [n, readFileSync(join(dir, n)).toString('base64')]))
}

const devicesPath = writeJson('devices.json', devices(12))

test('build writes NAME.ring.gz and NAME.builder whose CIDs it prints', async () => {
  const out = join(root, 'first')
  const r = await ring('build', '--name', 'object', '--devices', devicesPath, '--part-power', '10', '--replicas', '3', '--out', out, '--json')
  assert.is(r.code, 0, r.stderr)
  const summary = JSON.parse(r.stdout) as Record<string, number | string>
  const ringBytes = readFileSync(join(out, 'object.ring.gz'))
  const builderBytes = readFileSync(join(out, 'object.builder'))
  assert.is(summary.ringCid, cidString(ringBytes))
  assert.is(summary.builderCid, cidString(builderBytes))
  assert.equal(readdirSync(out).sort(), ['object.builder', 'object.ring.gz'])
  const decoded = decodeRingGz(ringBytes)
  assert.is(decoded.partPower, 10)
  assert.is(decoded.rows.length, 3)
  assert.is(summary.moved, 3 * 1024)
  assert.is(summary.dispersion, 0)
  assert.ok((summary.balance as number) < 1, `balance ${summary.balance}`)

  const human = await ring('build', '--name', 'object', '--devices', devicesPath, '--part-power', '10', '--replicas', '3', '--out', join(root, 'human'))
  assert.is(human.code, 0, human.stderr)
  assert.match(human.stdout, /moved\s+3072 partition-replicas/)
  assert.match(human.stdout, new RegExp(`ring.gz\\s+\\S+object.ring.gz\\s+${summary.ringCid as string}`))
  // Same input, same seed: byte-identical outputs.
  assert.equal(readFileSync(join(root, 'human', 'object.ring.gz')), ringBytes)
})

test('--previous continues with near-minimal movement when a device is added', async () => {
  const out = join(root, 'grow')
  const first = await ring('build', '--name', 'object', '--devices', devicesPath, '--part-power', '10', '--replicas', '2.5', '--min-part-hours', '0', '--out', out)
  assert.is(first.code, 0, first.stderr)
  const before = decodeRingGz(readFileSync(join(out, 'object.ring.gz')))
  assert.equal(before.rows.map(r => r.length), [1024, 1024, 512])
  const grown = writeJson('devices-13.json', [...devices(12), { region: 1, zone: 2, ip: '10.0.9.9', port: 6200, device: 'new', weight: 100 }])
  const r = await ring('build', '--name', 'object', '--devices', grown, '--previous', join(out, 'object.builder'), '--pretend-min-part-hours-passed', '--out', out, '--json')
  assert.is(r.code, 0, r.stderr)
  const summary = JSON.parse(r.stdout) as { moved: number, minimum: number, replicas: number, partPower: number }
  assert.is(summary.partPower, 10, 'part power taken from --previous')
  assert.is(summary.replicas, 2.5, 'replicas taken from --previous')
  assert.ok(summary.moved > 0 && summary.moved <= Math.ceil(summary.minimum * 1.1), `moved ${summary.moved}, minimum ${summary.minimum}`)
  const after = decodeRingGz(readFileSync(join(out, 'object.ring.gz')))
  let changed = 0
  after.rows.forEach((row, r) => row.forEach((id, p) => { if (before.rows[r][p] !== id) changed++ }))
  assert.is(changed, summary.moved, 'the printed movement is the real movement')
  assert.is(after.devs[12]?.device, 'new')
})

const badCases: Array<{ what: string, args: (out: string) => string[], code: number, message: RegExp }> = [
  { what: 'unknown flag', args: out => ['--bogus', '--out', out], code: 2, message: /Unknown option '--bogus'/ },
  { what: 'missing --name', args: out => ['--devices', devicesPath, '--part-power', '8', '--replicas', '3', '--out', out], code: 2, message: /--name is required/ },
  { what: 'bad --name', args: out => ['--name', '../x', '--devices', devicesPath, '--part-power', '8', '--replicas', '3', '--out', out], code: 2, message: /--name "..\/x" must be/ },
  { what: 'non-integer part power', args: out => ['--name', 'o', '--devices', devicesPath, '--part-power', '8.5', '--replicas', '3', '--out', out], code: 2, message: /--part-power must be an integer in 1\.\.32, got "8\.5"/ },
  { what: 'replicas below 1', args: out => ['--name', 'o', '--devices', devicesPath, '--part-power', '8', '--replicas', '0.5', '--out', out], code: 2, message: /--replicas must be a number >= 1/ },
  { what: 'bad overload', args: out => ['--name', 'o', '--devices', devicesPath, '--part-power', '8', '--replicas', '3', '--overload', 'lots', '--out', out], code: 2, message: /--overload must be a number/ },
  { what: 'missing part power without --previous', args: out => ['--name', 'o', '--devices', devicesPath, '--replicas', '3', '--out', out], code: 2, message: /--part-power and --replicas are required/ },
  { what: 'malformed devices JSON', args: out => ['--name', 'o', '--devices', writeJson('broken.json', '[\n  {"region": 1,\n   "zone": }\n]'), '--part-power', '8', '--replicas', '3', '--out', out], code: 2, message: /broken\.json: malformed JSON at line 3 column 12/ },
  { what: 'misspelt field', args: out => ['--name', 'o', '--devices', writeJson('typo.json', [...devices(3), { region: 1, zone: 1, ip: '10.0.0.9', port: 6200, device: 'x', wieght: 100 }]), '--part-power', '8', '--replicas', '3', '--out', out], code: 2, message: /entry 3: unknown field "wieght" \(did you mean "weight"\?\)/ },
  { what: 'wrong type', args: out => ['--name', 'o', '--devices', writeJson('type.json', devices(3, { port: '6200' as unknown as number })), '--part-power', '8', '--replicas', '3', '--out', out], code: 2, message: /entry 0: field "port" must be an integer in 1\.\.65535, got "6200"/ },
  { what: 'duplicate device', args: out => ['--name', 'o', '--devices', writeJson('dup.json', [...devices(3), devices(3)[1]]), '--part-power', '8', '--replicas', '3', '--out', out], code: 2, message: /entry 3: same ip, port and device \(10\.0\.1\.2:6200\/sd1\) as entry 1/ },
  { what: 'more replicas than devices', args: out => ['--name', 'o', '--devices', writeJson('three.json', devices(3)), '--part-power', '8', '--replicas', '5', '--out', out], code: 2, message: /replica/ },
  { what: 'missing devices file', args: out => ['--name', 'o', '--devices', join(root, 'nope.json'), '--part-power', '8', '--replicas', '3', '--out', out], code: 1, message: /cannot read devices file .*nope\.json/ },
  { what: 'corrupt --previous', args: out => ['--name', 'o', '--devices', devicesPath, '--previous', writeJson('junk.builder', 'not a builder'), '--out', out], code: 1, message: /builder state/ }
]

for (const c of badCases) {
  test(`build rejects ${c.what} (exit ${c.code}) and leaves --out untouched`, async () => {
    const out = join(root, 'kept')
    mkdirSync(out, { recursive: true })
    writeFileSync(join(out, 'o.ring.gz'), 'previous ring')
    const before = snapshot(out)
    const r = await ring('build', ...c.args(out))
    assert.is(r.code, c.code, r.stderr)
    assert.match(r.stderr, c.message)
    assert.is(r.stdout, '')
    assert.equal(snapshot(out), before)
  })
}

test('build into a path that is a file fails with exit 1 and writes nothing', async () => {
  const notDir = writeJson('plain-file', 'x')
  const r = await ring('build', '--name', 'o', '--devices', devicesPath, '--part-power', '6', '--replicas', '3', '--out', notDir)
  assert.is(r.code, 1)
  assert.match(r.stderr, /EEXIST|ENOTDIR|not a directory/)
  assert.is(readFileSync(notDir, 'utf8'), 'x')
})

test('devices.json validation names the entry and the field', () => {
  const fails = (text: string, code: string, message: RegExp): void => {
    assert.throws(() => parseDevicesFile(text), (e: unknown) => e instanceof DevicesFileError && e.code === code && message.test(e.message))
  }
  fails('[\n  {"region": 1,}\n]', 'bad-json', /devices\.json: malformed JSON at line 2 column 16/)
  fails('[{"region": "\\q"}]', 'bad-json', /at line 1 column 15/)
  fails('[1] trailing', 'bad-json', /at line 1 column 5/)
  fails('{"region": 1}', 'bad-shape', /must be a JSON array of devices, got object/)
  fails('[]', 'bad-shape', /lists no devices/)
  fails('[1]', 'bad-shape', /entry 0: must be an object, got 1/)
  fails(JSON.stringify([{ region: 1, zone: 1, ip: '10.0.0.1', port: 6200, device: 'a' }]), 'bad-field', /entry 0: field "weight" is missing/)
  fails(JSON.stringify([{ region: 1, zone: 1, ip: '10.0.0.1', port: 6200, device: 'a/b', weight: 1 }]), 'bad-field', /entry 0: field "device" must be a non-empty name without '\/'/)
  fails(JSON.stringify([{ region: 1, zone: 1, ip: 'not an ip', port: 6200, device: 'a', weight: 1 }]), 'bad-field', /field "ip" "not an ip" is neither an IP address nor a host name/)
  fails(JSON.stringify([{ region: 1, zone: 1, ip: '[::1]', port: 6200, device: 'a', weight: 1 }]), 'bad-field', /without brackets/)
  fails(JSON.stringify([{ region: -1, zone: 1, ip: '::1', port: 6200, device: 'a', weight: 1 }]), 'bad-field', /field "region" must be an integer in 0\.\./)
  fails(JSON.stringify([{ region: 1, zone: 1, ip: '::1', port: 6200, device: 'a', weight: -5 }]), 'bad-field', /field "weight" must be a number >= 0, got -5/)
  fails(JSON.stringify([{ region: 1, zone: 1, ip: '::1', port: 6200, device: 'a', weight: 1, id: 3 }, { region: 1, zone: 1, ip: '::1', port: 6200, device: 'b', weight: 1, id: 3 }]), 'duplicate', /entry 1: field "id" 3 is already used by entry 0/)
  const ok = parseDevicesFile(JSON.stringify([{ region: 1, zone: 1, ip: 'storage-1.example', port: 6200, device: 'a', weight: 1.5, meta: 'm', replication_ip: 'fd00::1', replication_port: 6300 }]))
  assert.equal(ok, [{ region: 1, zone: 1, ip: 'storage-1.example', port: 6200, device: 'a', weight: 1.5, meta: 'm', replication_ip: 'fd00::1', replication_port: 6300 }])
})

test('show prints parameters, per-device partitions and balance of a ring.gz and a builder', async () => {
  const out = join(root, 'first')
  const json = await ring('show', join(out, 'object.ring.gz'), '--json')
  assert.is(json.code, 0, json.stderr)
  const shown = JSON.parse(json.stdout) as { kind: string, cid: string, partitions: number, replicas: number, balance: number, dispersion: number, devices: Array<{ id: number, partitions: number, wanted: number }> }
  assert.is(shown.kind, 'ring.gz')
  assert.is(shown.cid, cidString(readFileSync(join(out, 'object.ring.gz'))))
  assert.is(shown.partitions, 1024)
  assert.is(shown.replicas, 3)
  assert.is(shown.devices.length, 12)
  assert.is(shown.devices.reduce((n, d) => n + d.partitions, 0), 3072)
  assert.ok(shown.devices.every(d => Math.abs(d.wanted - 256) < 1e-9))
  const human = await ring('show', join(out, 'object.builder'))
  assert.is(human.code, 0, human.stderr)
  assert.match(human.stdout, /\(builder, \d+ bytes\)/)
  assert.match(human.stdout, /min_part_hours 1, overload 0, seed 1/)
  assert.match(human.stdout, /rebalanced\s+2026-01-01T00:00:00\.000Z/)
  assert.match(human.stdout, /ID\s+REGION\s+ZONE\s+DEVICE\s+WEIGHT\s+PARTITIONS\s+WANTED\s+BALANCE/)
  assert.match(human.stdout, /\n0\s+1\s+1\s+10\.0\.0\.1:6200\/sd0\s+100\s+\d+\s+256\.00\s+[+-]\d+\.\d\d/)

  const corrupt = writeJson('corrupt.ring.gz', Buffer.concat([readFileSync(join(out, 'object.ring.gz')), Buffer.from('junk')]).toString('latin1'))
  writeFileSync(corrupt, Buffer.concat([readFileSync(join(out, 'object.ring.gz')), Buffer.from('junk')]))
  const bad = await ring('show', corrupt)
  assert.is(bad.code, 1)
  assert.match(bad.stderr, /4 unexpected bytes after the gzip member/)
  const none = await ring('show')
  assert.is(none.code, 2)
  assert.match(none.stderr, /FILE is required/)
})

test('get-nodes prints the partition, primaries and handoffs Swift would', async () => {
  const file = join(root, 'first', 'object.ring.gz')
  const decoded = decodeRingGz(readFileSync(file))
  const lookup = new RingLookup(decoded)
  const r = await ring('get-nodes', file, 'AUTH_test', 'photos', 'cat.jpg', '--hash-path-suffix', 'sfx', '--hash-path-prefix', 'pfx', '--json')
  assert.is(r.code, 0, r.stderr)
  const got = JSON.parse(r.stdout) as { partition: number, hash: string, primaries: Array<{ id: number }>, handoffs: Array<{ id: number }> }
  const part = partitionFor(10, 'AUTH_test', 'photos', 'cat.jpg', { prefix: 'pfx', suffix: 'sfx' })
  assert.is(got.partition, part)
  assert.is(parseInt(got.hash.slice(0, 8), 16) >>> 22, part)
  assert.equal(got.primaries.map(d => d.id), lookup.primaryNodes(part).map(d => d.id))
  assert.equal(got.handoffs.map(d => d.id), lookup.handoffNodes(part, 3).map(d => d.id))

  const conf = writeJson('swift.conf', '[swift-hash]\nswift_hash_path_suffix = sfx\nswift_hash_path_prefix = pfx\n')
  const viaConf = await ring('get-nodes', file, 'AUTH_test', 'photos', 'cat.jpg', '--swift-conf', conf, '--all')
  assert.is(viaConf.code, 0, viaConf.stderr)
  assert.match(viaConf.stdout, new RegExp(`Partition\\s+${part}\\n`))
  assert.match(viaConf.stdout, new RegExp(`Hash\\s+${got.hash}`))
  assert.is(viaConf.stdout.match(/^handoff /gm)?.length, 9, 'every other device is a handoff with --all')
  for (const d of lookup.primaryNodes(part)) assert.match(viaConf.stdout, new RegExp(`primary\\s+${d.id}\\s+${d.region}\\s+${d.zone}\\s+${d.ip.replace(/\./g, '\\.')}:6200/${d.device}`))

  const byPart = await ring('get-nodes', file, '--partition', '5', '--handoffs', '1', '--json')
  assert.is(byPart.code, 0, byPart.stderr)
  assert.is((JSON.parse(byPart.stdout) as { handoffs: unknown[] }).handoffs.length, 1)

  const noSuffix = await ring('get-nodes', file, 'AUTH_test')
  assert.is(noSuffix.code, 2)
  assert.match(noSuffix.stderr, /--hash-path-suffix \(or --swift-conf\) is required/)
  const outOfRange = await ring('get-nodes', file, '--partition', '1024')
  assert.is(outOfRange.code, 2)
  assert.match(outOfRange.stderr, /--partition must be an integer in 0\.\.1023/)
  const missing = await ring('get-nodes', join(root, 'missing.ring.gz'), '--partition', '1')
  assert.is(missing.code, 1)
  assert.match(missing.stderr, /cannot read ring file .*missing\.ring\.gz: ENOENT/)
})

test('--help for every subcommand, and unknown subcommands', async () => {
  for (const [cmd, title] of [['build', 'agent ring build'], ['show', 'agent ring show'], ['get-nodes', 'agent ring get-nodes']]) {
    const r = await ring(cmd, '--help')
    assert.is(r.code, 0)
    assert.ok(r.stdout.startsWith(`Usage: ${title}`), r.stdout)
  }
  assert.is((await ring('--help')).code, 0)
  assert.is((await ring()).code, 2)
  const unknown = await ring('frobnicate')
  assert.is(unknown.code, 2)
  assert.match(unknown.stderr, /unknown command "frobnicate"/)
})

test('through the real agent binary', () => {
  const here = dirname(fileURLToPath(import.meta.url))
  const cli = resolve(here, '..', 'agent', 'cli.js')
  if (!existsSync(cli)) {
    console.log(`SKIPPED (binary): ${cli} not built`)
    return
  }
  const file = join(root, 'first', 'object.ring.gz')
  const ok = spawnSync(process.execPath, [cli, 'ring', 'show', file, '--json'], { encoding: 'utf8', timeout: 30_000 })
  assert.is(ok.status, 0, ok.stderr)
  assert.is((JSON.parse(ok.stdout) as { partitions: number }).partitions, 1024)
  const bad = spawnSync(process.execPath, [cli, 'ring', 'build', '--nope'], { encoding: 'utf8', timeout: 30_000 })
  assert.is(bad.status, 2)
  assert.match(bad.stderr, /Unknown option '--nope'/)
})

test.after(() => { rmSync(root, { recursive: true, force: true }) })

test.run()
