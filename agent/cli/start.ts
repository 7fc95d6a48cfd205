// agent start: run the daemon in the foreground until SIGINT/SIGTERM.
import { parseArgs } from 'node:util'
import { ConfigError, DEFAULT_LISTEN, resolveConfig, type AgentConfig } from '../config.js'
import { createLogger, type Logger } from '../log.js'
import { LockHeldError } from '../lock.js'
import { SocketInUseError } from '../socket/server.js'
import { usageOnError } from './client-command.js'
import { EXIT, UsageError } from './exit-codes.js'
import type { Io, Subcommand } from './io.js'

export const START_OPTIONS = {
  'data-dir': { type: 'string' },
  listen: { type: 'string', multiple: true },
  config: { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  join: { type: 'string', multiple: true },
  'ring-dir': { type: 'string' },
  'on-change': { type: 'string' },
  region: { type: 'string' },
  zone: { type: 'string' },
  'storage-ip': { type: 'string' },
  'storage-port': { type: 'string' },
  device: { type: 'string', multiple: true },
  bootstrap: { type: 'boolean' },
  ring: { type: 'string', multiple: true },
  'hook-timeout': { type: 'string' },
  'remove-dead-after': { type: 'string' },
  'keep-epochs': { type: 'string' },
  'rebalance-delay': { type: 'string' },
  'upload-limit': { type: 'string' },
  'upload-slots': { type: 'string' },
  'fetch-from': { type: 'string' },
  'probe-interval': { type: 'string' },
  'probe-observers': { type: 'string' },
  'probe-udp': { type: 'string' },
  'print-config': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' }
} as const

const USAGE = `Usage: agent start [options]

Runs the agent in the foreground. SIGINT/SIGTERM stop it cleanly (exit 0).
Every option can also come from the environment (RINGLEADER_<NAME>, lists
comma-separated, e.g. RINGLEADER_LISTEN, RINGLEADER_DEVICES) or from a JSON
config file (camelCase keys: listen, logLevel, storagePort, devices, …).
Precedence: flag > environment > config file > default.

  --data-dir DIR          identity, lock and status socket (default ~/.ringleader)
  --listen MULTIADDR      libp2p listen address, repeatable (default ${DEFAULT_LISTEN})
  --config FILE           JSON config file (env RINGLEADER_CONFIG)
  --log-level LEVEL       debug|info|warn|error (default info)
  --log-format FORMAT     json|logfmt (default json), written to stderr
  --print-config          print the resolved configuration as JSON and exit

Cluster:
  --join PEER             a peer to join through (multiaddr or host:port), repeatable;
                          retried with backoff until one answers
  --probe-interval MS     failure-detector probe period (default 200: a failure is
                          seen in ~3 s; larger means less traffic and slower detection)
  --probe-observers K     members each node probes: its K successors on a hashed ring,
                          so each member has K observers (default 8; 0: everyone)
  --probe-udp on|off      probe members over signed UDP datagrams on the TCP port's
                          number (default on; off: over libp2p connections only)
  --region N, --zone N    this node's Swift region and zone (0-65535, default 1)
  --storage-ip IP         this node's Swift storage address (default 127.0.0.1)
  --storage-port PORT     this node's Swift storage port (1-65535, default 6200)
  --device NAME[:WEIGHT]  a Swift device on this node, repeatable (weight default 100)

Rings:
  --ring-dir DIR          where *.ring.gz files are installed (default DATA_DIR/rings)
  --on-change CMD         run by /bin/sh after each installed epoch, with
                          RINGLEADER_EPOCH, RINGLEADER_RING_DIR, RINGLEADER_RINGS
                          and RINGLEADER_CHANGED in its environment
  --hook-timeout S        kill the hook after S seconds (default 60)
  --bootstrap             make epoch 1 of a new cluster; refused (nothing changes)
                          when this node or a member it sees already has a map
  --ring NAME:P:R[:H[:O]] a ring for --bootstrap: part power P, replicas R,
                          min_part_hours H (default 1), overload O (default 0);
                          repeatable (default account, container and object 10:3:1;
                          env RINGLEADER_BOOTSTRAP_RINGS)
  --rebalance-delay MS    quiet window before the coordinator rebalances (default 500)
  --remove-dead-after S   devices of a dead member stay S seconds (default 600)
  --keep-epochs K         keep the blobs of the last K epochs (default 3)
  --upload-limit MBIT     cap the bandwidth used to serve ring blobs to peers (Mbit/s)
  --upload-slots N        peers served at once (default 2: early finishers serve others)
  --fetch-from MODE       swarm (default): fetch from any holder; coordinator: only
                          from the coordinator (a star; for comparisons)
  -h, --help              this help
`

// libp2p reports listen failures as one long message with a line per address
// ("  /ip4/…/tcp/7950: Error: listen EADDRINUSE: …") plus advice about its own
// config; operators need only the addresses and the reasons.
function describeListenFailure (err: unknown): string | undefined {
  const message = err instanceof Error ? err.message : ''
  const lines = [...message.matchAll(/^\s*(\/\S+): Error: (?:listen )?(\S+?):? (.*)$/gm)]
  if (lines.length === 0) return undefined
  return lines.map(m => `cannot listen on ${m[1]}: ${m[2]} (${m[3]})`).join('\n')
}

function installProcessHandlers (log: Logger, stop: () => Promise<void>): void {
  let signalled = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      log.warn('second signal: exiting now', { signal })
      process.exit(EXIT.agentError)
    }
    signalled = true
    log.info('signal received, shutting down', { signal })
    // A shutdown that hangs must not keep a dead agent around forever.
    setTimeout(() => {
      log.error('shutdown took longer than 10 s; exiting')
      process.exit(EXIT.agentError)
    }, 10_000).unref()
    stop().then(() => { process.exit(EXIT.ok) }, (err: unknown) => {
      log.error('shutdown failed', { err })
      process.exit(EXIT.agentError)
    })
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  // A stray rejection deep in the network stack should be seen, not kill the node.
  process.on('unhandledRejection', (reason) => { log.error('unhandled promise rejection', { err: reason }) })
  process.on('uncaughtException', (err) => {
    log.error('uncaught exception; stopping', { err, stack: err.stack })
    stop().finally(() => { process.exit(EXIT.agentError) })
  })
}

export const startCommand: Subcommand = {
  name: 'start',
  summary: 'Run the agent (daemon) in the foreground',
  usage: USAGE,
  async run (argv: string[], io: Io): Promise<number> {
    let config: AgentConfig
    try {
      const { values } = usageOnError(() => parseArgs({ args: argv, options: START_OPTIONS, strict: true, allowPositionals: false }))
      if (values.help === true) { io.stdout(USAGE); return EXIT.ok }
      config = resolveConfig({ flags: values, env: process.env })
      if (values['print-config'] === true) { io.stdout(JSON.stringify(config, null, 2) + '\n'); return EXIT.ok }
    } catch (err) {
      if (err instanceof UsageError || err instanceof ConfigError) {
        io.stderr(`agent start: ${err.message}\nRun "agent start --help" for usage.\n`)
        return EXIT.usage
      }
      throw err
    }

    const log = createLogger({ level: config.logLevel, format: config.logFormat })
    // Loaded here so client commands never pay for importing libp2p.
    const { startDaemon } = await import('../daemon.js')
    const { defaultComponents } = await import('../components.js')
    const starting = startDaemon({ config, log, components: defaultComponents(config) })
    // Handlers go in before the start finishes: a SIGTERM that arrives while
    // components start (the socket already answers) still shuts down cleanly.
    installProcessHandlers(log, async () => {
      const daemon = await starting.catch(() => undefined)
      await daemon?.stop()
    })
    try {
      await starting
    } catch (err) {
      if (err instanceof LockHeldError || err instanceof SocketInUseError) {
        io.stderr(`agent start: another agent is already running with data dir ${config.dataDir}: ${err.message}.\n` +
          'Nothing was changed. Stop that agent first, or choose another --data-dir.\n')
        return EXIT.agentError
      }
      const listenProblems = describeListenFailure(err)
      if (listenProblems !== undefined) {
        io.stderr(`agent start: ${listenProblems}\nChoose other --listen addresses, or stop what holds them.\n`)
        return EXIT.agentError
      }
      const code = (err as { code?: unknown }).code
      io.stderr(`agent start: ${(err as Error).message}${typeof code === 'string' ? ` (${code})` : ''}\n`)
      return EXIT.agentError
    }
    // Keep running: the socket server and libp2p hold the event loop open.
    return await new Promise<number>(() => {})
  }
}
