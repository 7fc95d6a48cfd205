// The ring package: Swift-semantics builder, ring.gz v1 codec, content addresses, lookups.
export type * from './types.js'
export * from './format.js'
export * from './address.js'
export * from './lookup.js'
export { PyFloat, pyFloatRepr, pyJsonDumps } from './python-json.js'
