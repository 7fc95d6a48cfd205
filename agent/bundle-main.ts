// dist/agent.mjs: the packaged agent's entry (see bundle-loader.ts). It runs the
// agent code that sits beside it.
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runBundledAgent } from './bundle-loader.js'

try {
  runBundledAgent(dirname(fileURLToPath(import.meta.url)))
} catch (err) {
  process.stderr.write(`agent: ${(err as Error).message}\n`)
  process.exitCode = 1
}
