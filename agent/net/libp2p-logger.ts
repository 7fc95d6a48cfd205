// libp2p's components log through `debug`-style loggers, and it makes new ones all
// the time: a scope per connection, stream, muxer and upgrade, each three debug
// instances (log, error, trace), and each instance asks whether stderr is a TTY
// (an ioctl) and hashes its name to pick a colour. None of it prints unless DEBUG
// names the component (bench/connection-cost: 16.6 → 15.9 ms of CPU per
// connection without it). Without DEBUG the agent gives libp2p a logger that does
// nothing; with DEBUG set, libp2p's own, so `DEBUG=libp2p:* agent start` still traces.
import { defaultLogger } from '@libp2p/logger'
import type { ComponentLogger, Logger } from '@libp2p/interface'

function silentLog (): Logger {
  const log = Object.assign((_formatter: unknown, ..._args: unknown[]): void => {}, {
    enabled: false,
    error: (_formatter: unknown, ..._args: unknown[]): void => {},
    trace: (_formatter: unknown, ..._args: unknown[]): void => {},
    newScope: (_name: string): Logger => log
  })
  return log
}

/** A ComponentLogger whose loggers are all one disabled no-op. */
export function silentLogger (): ComponentLogger {
  const log = silentLog()
  return { forComponent: () => log }
}

/** libp2p's debug loggers when DEBUG is set (non-empty) in `env`, else the silent one. */
export function libp2pLogger (env: NodeJS.ProcessEnv = process.env): ComponentLogger {
  return (env.DEBUG ?? '') !== '' ? defaultLogger() : silentLogger()
}
