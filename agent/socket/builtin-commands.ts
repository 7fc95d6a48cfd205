// Commands every agent answers, whatever components are loaded.
import { LOG_LEVELS, type Logger, type LogLevel, type LogRecord } from '../log.js'
import { CommandError, SocketErrorCode } from './protocol.js'
import type { CommandRegistry } from './registry.js'
import type { StatusBoard } from '../status-board.js'

export function registerBuiltinCommands (registry: CommandRegistry, status: StatusBoard, log: Logger): void {
  registry.register({
    name: 'help',
    summary: 'List the socket commands with their arguments',
    args: {},
    handler: () => registry.help()
  })

  registry.register({
    name: 'status',
    summary: 'Node id, listen addresses, state, uptime, version, pid and data dir',
    args: {},
    handler: () => status.snapshot()
  })

  registry.register({
    name: 'logs',
    summary: 'Stream log records as they happen (one event per record)',
    args: {
      level: { type: 'string', description: `lowest level to send: ${LOG_LEVELS.join('|')} (default info)` }
    },
    stream: true,
    handler: async (args, ctx) => {
      const level = args.level ?? 'info'
      if (!(LOG_LEVELS as readonly string[]).includes(level)) {
        throw new CommandError(SocketErrorCode.badArgs, `logs: level must be one of ${LOG_LEVELS.join('|')}`)
      }
      await new Promise<void>(resolve => {
        let unsubscribe = (): void => {}
        const finish = (): void => { unsubscribe(); resolve() }
        unsubscribe = log.subscribe(level as LogLevel, (record: LogRecord) => {
          try { ctx.emit(record) } catch { finish() }
        })
        if (ctx.signal.aborted) finish()
        else ctx.signal.addEventListener('abort', finish, { once: true })
      })
    }
  })
}
