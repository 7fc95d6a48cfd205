import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { homedir } from 'node:os'
import { resolveConfig, ConfigError, DEFAULT_LISTEN } from '../agent/config.js'
import { runCli, makeTempDir, cleanupAgents } from './helpers/agent-process.js'

test.after(async () => { await cleanupAgents() })

function configError (fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    assert.instance(err, ConfigError)
    return err as ConfigError
  }
  throw new Error('expected a ConfigError')
}

test('defaults: ~/.ringleader, 0.0.0.0:7950, info, json', () => {
  const c = resolveConfig({ flags: {}, env: {} })
  assert.is(c.dataDir, join(homedir(), '.ringleader'))
  assert.equal(c.listen, [DEFAULT_LISTEN])
  assert.is(c.logLevel, 'info')
  assert.is(c.logFormat, 'json')
  assert.equal(c.devices, [])
  assert.is(c.bootstrap, false)
})

test('probe observers: a flag, an env var or the file; out of range names the field', () => {
  assert.is(resolveConfig({ flags: {}, env: {} }).probeObservers, undefined, 'the membership default applies')
  assert.is(resolveConfig({ flags: { 'probe-observers': '3' }, env: {} }).probeObservers, 3)
  assert.is(resolveConfig({ flags: {}, env: { RINGLEADER_PROBE_OBSERVERS: '0' } }).probeObservers, 0)
  const e = configError(() => resolveConfig({ flags: { 'probe-observers': 'many' }, env: {} }))
  assert.match(e.message, /probe-observers/)
  configError(() => resolveConfig({ flags: { 'probe-observers': '2000' }, env: {} }))
})

test('probe datagrams: on by default, off by flag or env; anything but a yes/no names the flag', () => {
  assert.is(resolveConfig({ flags: {}, env: {} }).probeUdp, true)
  assert.is(resolveConfig({ flags: { 'probe-udp': 'off' }, env: {} }).probeUdp, false)
  assert.is(resolveConfig({ flags: {}, env: { RINGLEADER_PROBE_UDP: 'no' } }).probeUdp, false)
  assert.is(resolveConfig({ flags: { 'probe-udp': 'on' }, env: { RINGLEADER_PROBE_UDP: 'off' } }).probeUdp, true, 'the flag wins')
  const e = configError(() => resolveConfig({ flags: { 'probe-udp': 'udp' }, env: {} }))
  assert.match(e.message, /probe-udp/)
})

test('precedence: flag > env > file > default, field by field', async () => {
  const dir = await makeTempDir()
  const file = join(dir, 'agent.json')
  writeFileSync(file, JSON.stringify({ logLevel: 'error', zone: 3, region: 2, storagePort: 6200, ringDir: 'rings', devices: ['sdb:50', { name: 'sdc' }] }))
  const c = resolveConfig({
    flags: { config: file, 'log-level': 'debug' },
    env: { RINGLEADER_LOG_LEVEL: 'warn', RINGLEADER_ZONE: '7', RINGLEADER_LISTEN: '/ip4/127.0.0.1/tcp/1, /ip4/127.0.0.1/tcp/2' },
    cwd: '/somewhere'
  })
  assert.is(c.logLevel, 'debug', 'flag beats env and file')
  assert.is(c.zone, 7, 'env beats file')
  assert.is(c.region, 2, 'file beats default')
  assert.is(c.storagePort, 6200)
  assert.is(c.ringDir, join(dir, 'rings'), 'file paths are relative to the file')
  assert.equal(c.listen, ['/ip4/127.0.0.1/tcp/1', '/ip4/127.0.0.1/tcp/2'])
  assert.equal(c.devices, [{ name: 'sdb', weight: 50 }, { name: 'sdc', weight: 100 }])
  assert.is(c.configFile, file)
})

test('bad values name the flag, the variable or the file key', async () => {
  assert.match(configError(() => resolveConfig({ flags: { 'storage-port': '70000' }, env: {} })).message, /^--storage-port: .*between 1 and 65535/)
  assert.match(configError(() => resolveConfig({ flags: {}, env: { RINGLEADER_STORAGE_IP: '10.0.0' } })).message, /^RINGLEADER_STORAGE_IP: /)
  assert.match(configError(() => resolveConfig({ flags: { listen: ['/ip4/1.2.3.4/udp/5'] }, env: {} })).message, /^--listen: .*no \/tcp\/PORT/)
  assert.match(configError(() => resolveConfig({ flags: { listen: ['nonsense'] }, env: {} })).message, /^--listen: not a valid multiaddr/)
  assert.match(configError(() => resolveConfig({ flags: { device: ['sdb:heavy'] }, env: {} })).message, /^--device: bad weight/)
  assert.match(configError(() => resolveConfig({ flags: { device: ['sdb', 'sdb:5'] }, env: {} })).message, /given twice/)
  assert.match(configError(() => resolveConfig({ flags: { region: '1.5' }, env: {} })).message, /^--region: expected an integer/)
  assert.match(configError(() => resolveConfig({ flags: {}, env: { RINGLEADER_BOOTSTRAP: 'maybe' } })).message, /^RINGLEADER_BOOTSTRAP: /)
  const dir = await makeTempDir()
  const file = join(dir, 'c.json')
  writeFileSync(file, JSON.stringify({ zone: 'east' }))
  assert.match(configError(() => resolveConfig({ flags: { config: file }, env: {} })).message, new RegExp(`^zone \\(in ${file}\\): expected an integer`))
  writeFileSync(file, JSON.stringify({ zoen: 1 }))
  assert.match(configError(() => resolveConfig({ flags: { config: file }, env: {} })).message, /^zoen \(in .*\): unknown setting/)
  writeFileSync(file, '{"zone": ')
  assert.match(configError(() => resolveConfig({ flags: { config: file }, env: {} })).message, /^--config: .*not valid JSON/)
  assert.match(configError(() => resolveConfig({ flags: {}, env: { RINGLEADER_CONFIG: join(dir, 'missing.json') } })).message, /^RINGLEADER_CONFIG: cannot read config file .*ENOENT/)
})

test('agent start --print-config applies flags > env > file; a bad field exits 2 naming it', async () => {
  const dir = await makeTempDir()
  const file = join(dir, 'agent.json')
  writeFileSync(file, JSON.stringify({ logFormat: 'logfmt', zone: 1, storagePort: 6000 }))
  const ok = await runCli(['start', '--print-config', '--config', file, '--storage-port', '6001', '--data-dir', join(dir, 'd'), '--device', 'sdb1:10', '--bootstrap'],
    { env: { RINGLEADER_ZONE: '4', RINGLEADER_STORAGE_PORT: '6002' } })
  assert.is(ok.code, 0, ok.stderr)
  const c = JSON.parse(ok.stdout) as Record<string, unknown>
  assert.is(c.storagePort, 6001)
  assert.is(c.zone, 4)
  assert.is(c.logFormat, 'logfmt')
  assert.is(c.bootstrap, true)
  assert.equal(c.devices, [{ name: 'sdb1', weight: 10 }])

  const bad = await runCli(['start', '--data-dir', join(dir, 'd2'), '--log-level', 'loud'])
  assert.is(bad.code, 2)
  assert.match(bad.stderr, /--log-level: must be one of debug\|info\|warn\|error/)
  const unknown = await runCli(['start', '--frobnicate'])
  assert.is(unknown.code, 2)
  assert.match(unknown.stderr, /frobnicate/)
  writeFileSync(file, JSON.stringify({ storagePort: 'six' }))
  const badFile = await runCli(['start', '--config', file, '--data-dir', join(dir, 'd3')])
  assert.is(badFile.code, 2)
  assert.match(badFile.stderr, /storagePort \(in .*agent\.json\)/)
})

test('--help on every subcommand exits 0 and prints its usage', async () => {
  const results = await Promise.all(['start', 'status', 'commands', 'logs', 'dev', 'help'].map(async cmd => [cmd, await runCli([cmd, '--help'])] as const))
  for (const [cmd, r] of results) {
    assert.is(r.code, 0, `${cmd} --help: ${r.stderr}`)
    assert.match(r.stdout, new RegExp(`Usage: agent ${cmd}`))
  }
  const top = await runCli(['--help'])
  assert.is(top.code, 0)
  for (const cmd of ['start', 'status', 'dev', 'ring']) assert.match(top.stdout, new RegExp(`\\n${cmd}\\s`))
  const helpStart = await runCli(['help', 'start'])
  assert.is(helpStart.code, 0)
  assert.match(helpStart.stdout, /--storage-port/)
  const none = await runCli(['bogus'])
  assert.is(none.code, 2)
  assert.match(none.stderr, /unknown command "bogus"/)
  const badDev = await runCli(['dev', '--nodes', 'many'])
  assert.is(badDev.code, 2)
  const extra = await runCli(['status', 'extra-arg'])
  assert.is(extra.code, 2)
})

test.run()
