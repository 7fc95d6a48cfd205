// The agent's version: package.json's, or the value esbuild inlines into the
// single-file bundle (which has no package.json next to it).
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

declare const RINGLEADER_BUNDLED_VERSION: string | undefined

function readVersion (): string {
  if (typeof RINGLEADER_BUNDLED_VERSION === 'string') return RINGLEADER_BUNDLED_VERSION
  try {
    // build/agent/version.js → ../../package.json
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version?: unknown }
    return typeof pkg.version === 'string' ? pkg.version : 'unknown'
  } catch {
    return 'unknown'
  }
}

export const VERSION = readVersion()
