// Exit codes every subcommand uses, so scripts can tell failures apart.
export const EXIT = {
  ok: 0,
  /** The agent answered with an error, or the daemon failed. */
  agentError: 1,
  /** Bad flags or arguments. */
  usage: 2,
  /** No agent answers on the data dir's socket. */
  noAgent: 3
} as const

export class UsageError extends Error {
  readonly code = 'ERR_USAGE'
  constructor (message: string) {
    super(message)
    this.name = 'UsageError'
  }
}
