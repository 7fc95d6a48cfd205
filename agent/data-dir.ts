// The data directory: where the identity, the lock and the status socket live.
// Files in it are written with ./fs-atomic.ts (temp file, fsync, rename, dir fsync).
import { mkdir, stat, chmod } from 'node:fs/promises'
import { join } from 'node:path'

export const SOCKET_NAME = 'agent.sock'
export const LOCK_NAME = 'agent.lock'
export const IDENTITY_NAME = 'identity.key'

// Unix socket paths are limited to 108 bytes on Linux (104 on BSD/macOS),
// counting the terminating NUL.
const MAX_SOCKET_PATH = 103

export class DataDirError extends Error {
  readonly code = 'ERR_DATA_DIR'
  constructor (message: string) {
    super(message)
    this.name = 'DataDirError'
  }
}

export interface DataDirPaths {
  root: string
  socket: string
  lock: string
  identity: string
}

export function dataDirPaths (root: string): DataDirPaths {
  return {
    root,
    socket: join(root, SOCKET_NAME),
    lock: join(root, LOCK_NAME),
    identity: join(root, IDENTITY_NAME)
  }
}

/**
 * Creates the data directory (mode 0700) if it is missing and checks that it is
 * a usable directory. Nothing inside it is touched.
 */
export async function openDataDir (root: string): Promise<DataDirPaths> {
  const paths = dataDirPaths(root)
  if (Buffer.byteLength(paths.socket) > MAX_SOCKET_PATH) {
    throw new DataDirError(`data dir path is too long for a unix socket (${paths.socket} is over ${MAX_SOCKET_PATH} bytes); choose a shorter --data-dir`)
  }
  try {
    await mkdir(root, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new DataDirError(`cannot create data dir ${root}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  const info = await stat(root)
  if (!info.isDirectory()) throw new DataDirError(`data dir ${root} is not a directory`)
  return paths
}

/** chmod that ignores a file vanishing underneath (best effort hardening). */
export async function tightenMode (path: string, mode: number): Promise<void> {
  try { await chmod(path, mode) } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}
