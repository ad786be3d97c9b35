// What the client scripts share: named checks that report one line each, assertions, and the
// data of a hey-api result. `finish()` prints "N passed, M failed" and sets the exit code.
let passed = 0
let failed = 0

export async function check(name, run) {
  try {
    await run()
    passed++
    console.log(`ok   ${name}`)
  } catch (error) {
    failed++
    console.log(`FAIL ${name}: ${error?.stack ?? error}`)
  }
}

export function expect(condition, message) {
  if (!condition) throw new Error(message)
}

/** The data of a hey-api result, or the reason it has none. */
export function data(result) {
  expect(!result.error, `error ${result.response?.status}: ${JSON.stringify(result.error)}`)
  expect(result.response?.ok, `status ${result.response?.status}`)
  return result.data
}

export function finish() {
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(failed === 0 ? 0 : 1)
}
