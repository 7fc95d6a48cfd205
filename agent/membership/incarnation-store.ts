// A ceiling on this node's own membership incarnation, kept in the data dir so that
// a restart never goes backwards (design §3): no message carrying an incarnation
// above it has left the node, and a restart starts one above it. Written atomically
// (temp + fsync + rename + dir fsync); the service writes a block ahead
// (protocol/membership/incarnation-reserve.ts), so a refutation seldom waits for it.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../fs-atomic.js'

export const INCARNATION_FILE = 'membership.json'

export class IncarnationStoreError extends Error {
  readonly code = 'ERR_INCARNATION_FILE'
  constructor (message: string) {
    super(message)
    this.name = 'IncarnationStoreError'
  }
}

export interface IncarnationStore {
  /** The last persisted incarnation, or undefined for a node that never ran. */
  load: () => Promise<number | undefined>
  save: (incarnation: number) => Promise<void>
}

export function incarnationStore (dataDir: string): IncarnationStore {
  const path = join(dataDir, INCARNATION_FILE)
  let last: number | undefined
  return {
    load: async () => {
      let text: string
      try {
        text = await readFile(path, 'utf8')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw new IncarnationStoreError(`cannot read ${path}: ${(err as Error).message}`)
      }
      let value: unknown
      try { value = (JSON.parse(text) as { incarnation?: unknown }).incarnation } catch { value = undefined }
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
        // Refusing to start is safer than guessing: a lower guess would let our own
        // old `dead` beat us. The operator can delete the file after a clean leave.
        throw new IncarnationStoreError(`${path} is corrupt (expected {"incarnation": N}); remove it only if this node has left the cluster`)
      }
      last = value
      return value
    },
    save: async (incarnation: number) => {
      if (last !== undefined && incarnation <= last) return
      await writeFileAtomic(path, JSON.stringify({ incarnation }) + '\n', { mode: 0o600 })
      last = incarnation
    }
  }
}
