// Runs OpenStack Swift's own Python ring code (test/fixtures/swift_ring.py) so tests can
// prove compatibility against Swift itself. $SWIFT_PYTHON, when set, is the only
// interpreter tried; otherwise the system python (Debian's python3-swift installs there),
// then whatever `python3` is first on PATH (which may be a pyenv interpreter without Swift).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const SCRIPT_NAME = 'swift_ring.py'
const CALL_TIMEOUT_MS = 120_000

/** Finds test/fixtures/swift_ring.py from either test/helpers or build/test/helpers. */
function findScript (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'test', 'fixtures', SCRIPT_NAME)
    if (existsSync(candidate)) return candidate
    dir = resolve(dir, '..')
  }
  throw new Error(`cannot find test/fixtures/${SCRIPT_NAME} above ${fileURLToPath(import.meta.url)}`)
}

export class SwiftPython {
  private constructor (readonly python: string, readonly script: string) {}

  /** A runner when some interpreter imports swift.common.ring, else undefined. */
  static find (): SwiftPython | undefined {
    const script = findScript()
    const explicit = process.env.SWIFT_PYTHON
    const candidates = explicit != null && explicit !== '' ? [explicit] : ['/usr/bin/python3', 'python3']
    for (const python of candidates) {
      const runner = new SwiftPython(python, script)
      try {
        if ((runner.call({ op: 'probe' }) as { ok?: boolean }).ok === true) return runner
      } catch {
        // try the next interpreter
      }
    }
    return undefined
  }

  /** One request/answer round trip (one interpreter start, about 0.6 s with Swift's imports). */
  call (request: Record<string, unknown>): unknown {
    const res = spawnSync(this.python, [this.script], {
      input: JSON.stringify(request),
      encoding: 'utf8',
      timeout: CALL_TIMEOUT_MS,
      maxBuffer: 256 << 20
    })
    if (res.error != null) throw res.error
    if (res.status !== 0) throw new Error(`${this.python} ${SCRIPT_NAME} ${String(request.op)} exited ${res.status ?? res.signal}: ${res.stderr}`)
    return JSON.parse(res.stdout)
  }

  /** Several requests in one interpreter; answers in request order. */
  batch (requests: Array<Record<string, unknown>>): unknown[] {
    return (this.call({ op: 'batch', requests }) as { answers: unknown[] }).answers
  }
}

/**
 * The Swift runner, or undefined after printing why tests are skipped. Under CI
 * (CI=true) a missing Swift throws instead: CI installs python3-swift, so absence is a failure.
 */
export function swiftOrSkip (): SwiftPython | undefined {
  const swift = SwiftPython.find()
  if (swift != null) return swift
  if (process.env.CI === 'true') throw new Error('python3-swift is not installed, and CI=true requires it (apt-get install -y python3-swift)')
  console.log('SKIPPED: python3-swift not installed')
  return undefined
}
