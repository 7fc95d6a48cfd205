// Runs every compiled uvu test file in its own process, one at a time (multi-node
// tests are timing-sensitive on a 2-core box), bounds each file in time, and prints
// the closing line CI reads: "N passed, N failed[, N skipped]".
//
//   node build/test/run.js [substring …]   run only files whose name contains a substring
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, relative, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const FILE_TIMEOUT_MS = Number(process.env.RINGLEADER_TEST_FILE_TIMEOUT_MS ?? 15 * 60_000)

function findTests (dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...findTests(path))
    else if (name.endsWith('.test.js')) out.push(path)
  }
  return out
}

interface FileResult { file: string, passed: number, failed: number, skipped: number, ms: number, note?: string }

// uvu's summary: "Total: T / Passed: P / Skipped: S"; colour is off via NO_COLOR.
function parseSummary (text: string): { total: number, passed: number, skipped: number } | undefined {
  const plain = text.replace(/\x1b\[[0-9;]*m/g, '')
  const total = /Total:\s+(\d+)/.exec(plain)
  const passed = /Passed:\s+(\d+)/.exec(plain)
  const skipped = /Skipped:\s+(\d+)/.exec(plain)
  if (total == null || passed == null) return undefined
  return { total: Number(total[1]), passed: Number(passed[1]), skipped: Number(skipped?.[1] ?? 0) }
}

async function runFile (file: string): Promise<FileResult> {
  const started = Date.now()
  return await new Promise((resolve) => {
    const child = spawn(process.execPath, ['--enable-source-maps', file], {
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''
    const keep = (chunk: Buffer): void => { out += chunk.toString(); process.stdout.write(chunk) }
    child.stdout.on('data', keep)
    child.stderr.on('data', (c: Buffer) => process.stderr.write(c))
    const timer = setTimeout(() => { child.kill('SIGKILL') }, FILE_TIMEOUT_MS)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const ms = Date.now() - started
      const summary = parseSummary(out)
      if (summary == null) {
        resolve({ file, passed: 0, failed: 1, skipped: 0, ms, note: `no uvu summary (exit ${code ?? signal})` })
        return
      }
      let failed = Math.max(0, summary.total - summary.passed - summary.skipped)
      let note: string | undefined
      if (failed === 0 && code !== 0) { failed = 1; note = `exit ${code ?? signal} after its summary` }
      resolve({ file, passed: summary.passed, failed, skipped: summary.skipped, ms, note })
    })
  })
}

const filters = process.argv.slice(2)
const files = findTests(here).filter(f => filters.length === 0 || filters.some(s => f.includes(s)))
const results: FileResult[] = []
for (const file of files) {
  console.log(`\n### ${relative(here, file)}`)
  results.push(await runFile(file))
}

console.log('\nper file:')
for (const r of results) {
  console.log(`  ${relative(here, r.file).padEnd(40)} ${String(r.passed).padStart(4)} passed ${String(r.failed).padStart(3)} failed ${(r.ms / 1000).toFixed(1).padStart(7)} s${r.note != null ? '  (' + r.note + ')' : ''}`)
}
const passed = results.reduce((n, r) => n + r.passed, 0)
const failed = results.reduce((n, r) => n + r.failed, 0)
const skipped = results.reduce((n, r) => n + r.skipped, 0)
if (files.length === 0) console.log('no test files found')
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`)
process.exitCode = failed > 0 || files.length === 0 ? 1 : 0
