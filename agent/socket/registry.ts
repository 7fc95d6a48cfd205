// The one place socket commands are declared. Each command states its arguments
// and their types; the registry checks a request against that schema before the
// handler runs, and `help` is generated from the same declarations.
import { CommandError, SocketErrorCode } from './protocol.js'

export type ArgType = 'string' | 'number' | 'integer' | 'boolean' | 'string[]'

export interface ArgSpec {
  type: ArgType
  required?: boolean
  description: string
}

export type ArgSchema = Record<string, ArgSpec>

type ArgValue<T extends ArgType> =
  T extends 'string' ? string
    : T extends 'number' | 'integer' ? number
      : T extends 'boolean' ? boolean
        : string[]

/** The handler's view of validated arguments: required ones present, others optional. */
export type ArgsOf<S extends ArgSchema> = {
  [K in keyof S]: S[K]['required'] extends true ? ArgValue<S[K]['type']> : ArgValue<S[K]['type']> | undefined
}

export interface RequestContext {
  /** Aborted when the client disconnects or the daemon stops. */
  signal: AbortSignal
}

export interface StreamContext extends RequestContext {
  /** Sends one event line; throws once the client is gone or too slow. */
  emit: (event: unknown) => void
}

export interface QueryCommand<S extends ArgSchema> {
  name: string
  summary: string
  args: S
  stream?: false
  handler: (args: ArgsOf<S>, ctx: RequestContext) => unknown
}

export interface StreamCommand<S extends ArgSchema> {
  name: string
  summary: string
  args: S
  /** Keeps the connection open and emits events until the handler returns or the client leaves. */
  stream: true
  handler: (args: ArgsOf<S>, ctx: StreamContext) => Promise<void>
}

export type CommandSpec<S extends ArgSchema> = QueryCommand<S> | StreamCommand<S>

/** A registered command with its argument types erased (they are checked at run time). */
export type AnyCommand = CommandSpec<ArgSchema>

export interface CommandHelp {
  name: string
  summary: string
  stream: boolean
  args: Array<{ name: string, type: ArgType, required: boolean, description: string }>
}

const COMMAND_NAME = /^[a-z][a-z0-9-]*$/

function checkType (type: ArgType, value: unknown): boolean {
  switch (type) {
    case 'string': return typeof value === 'string'
    case 'number': return typeof value === 'number' && Number.isFinite(value)
    case 'integer': return typeof value === 'number' && Number.isSafeInteger(value)
    case 'boolean': return typeof value === 'boolean'
    case 'string[]': return Array.isArray(value) && value.every(v => typeof v === 'string')
  }
}

export class CommandRegistry {
  private readonly commands = new Map<string, AnyCommand>()

  register<S extends ArgSchema>(spec: CommandSpec<S>): void {
    if (!COMMAND_NAME.test(spec.name)) throw new Error(`bad command name ${JSON.stringify(spec.name)}`)
    if (this.commands.has(spec.name)) throw new Error(`command ${spec.name} is already registered`)
    this.commands.set(spec.name, spec as unknown as AnyCommand)
  }

  unregister (name: string): void {
    this.commands.delete(name)
  }

  /** Looks up a command and validates `args` against its schema. */
  resolve (name: string, args: Record<string, unknown>): { command: AnyCommand, args: ArgsOf<ArgSchema> } {
    const command = this.commands.get(name)
    if (command === undefined) {
      throw new CommandError(SocketErrorCode.unknownCommand, `unknown command "${name}"; "help" lists the commands`)
    }
    for (const key of Object.keys(args)) {
      if (!(key in command.args)) throw new CommandError(SocketErrorCode.badArgs, `${name}: unknown argument "${key}"`)
    }
    for (const [argName, spec] of Object.entries(command.args)) {
      const value = args[argName]
      if (value === undefined || value === null) {
        if (spec.required === true) throw new CommandError(SocketErrorCode.badArgs, `${name}: argument "${argName}" (${spec.type}) is required`)
        continue
      }
      if (!checkType(spec.type, value)) {
        throw new CommandError(SocketErrorCode.badArgs, `${name}: argument "${argName}" must be ${spec.type}, got ${JSON.stringify(value)}`)
      }
    }
    return { command, args: args as ArgsOf<ArgSchema> }
  }

  help (): CommandHelp[] {
    return [...this.commands.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map(c => ({
        name: c.name,
        summary: c.summary,
        stream: c.stream === true,
        args: Object.entries(c.args).map(([name, s]) => ({ name, type: s.type, required: s.required === true, description: s.description }))
      }))
  }
}
