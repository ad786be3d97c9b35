// Drives a running wasmcode server with OpenCode's own JS SDK (v1 and v2 exports) and checks the
// typed fields it gets back. Usage: node sdk-smoke.mjs <baseUrl> <projectDir>
// Prints one line per check and a closing "N passed, M failed"; exits 1 on any failure.
import { createOpencodeClient } from "@opencode-ai/sdk"
import { createOpencodeClient as createV2 } from "@opencode-ai/sdk/v2"
import { check, data, expect, finish } from "./checks.mjs"

const [baseUrl, directory] = process.argv.slice(2)

// With SMOKE_PASSWORD, the server is password-protected and the clients send Basic credentials
// the way OpenCode's own clients do.
const password = process.env.SMOKE_PASSWORD
const headers = password
  ? { Authorization: `Basic ${Buffer.from(`opencode:${password}`).toString("base64")}` }
  : undefined
const v1 = createOpencodeClient({ baseUrl, directory, headers })
const v2 = createV2({ baseUrl, directory, headers })

if (password) {
  await check("without credentials the server answers 401", async () => {
    const anonymous = createV2({ baseUrl, directory })
    const result = await anonymous.global.health()
    expect(result.response?.status === 401, `status ${result.response?.status}`)
  })
}

await check("v2 global.health", async () => {
  const health = data(await v2.global.health())
  expect(health.healthy === true && typeof health.version === "string", JSON.stringify(health))
})
await check("v1 config.get", async () => {
  const config = data(await v1.config.get())
  expect(config.$schema === "https://opencode.ai/config.json", JSON.stringify(config))
})
await check("v1 path.get", async () => {
  const path = data(await v1.path.get())
  expect(path.directory === directory && typeof path.worktree === "string", JSON.stringify(path))
})
await check("v1 project.current", async () => {
  const project = data(await v1.project.current())
  expect(typeof project.id === "string" && project.worktree === directory, JSON.stringify(project))
})
await check("v1 file.list", async () => {
  const nodes = data(await v1.file.list({ query: { path: "." } }))
  const main = nodes.find((n) => n.name === "src")
  expect(main?.type === "directory" && main.absolute.startsWith(directory), JSON.stringify(nodes))
})
await check("v1 file.read", async () => {
  const content = data(await v1.file.read({ query: { path: "src/main.rs" } }))
  expect(content.type === "text" && content.content.includes("fn main"), JSON.stringify(content))
})
await check("v1 file.status", async () => {
  const status = data(await v1.file.status())
  expect(Array.isArray(status), JSON.stringify(status))
})
await check("v1 find.text", async () => {
  const matches = data(await v1.find.text({ query: { pattern: "fn main" } }))
  expect(matches[0]?.path?.text === "src/main.rs" && matches[0].line_number === 1, JSON.stringify(matches))
})
await check("v1 find.files", async () => {
  const files = data(await v1.find.files({ query: { query: "main" } }))
  expect(files.includes("src/main.rs"), JSON.stringify(files))
})
await check("v1 tool.ids", async () => {
  const ids = data(await v1.tool.ids())
  expect(["read", "bash", "edit"].every((id) => ids.includes(id)), JSON.stringify(ids))
})
await check("v1 tool.list", async () => {
  const tools = data(await v1.tool.list({ query: { provider: "fake", model: "fake-model" } }))
  const read = tools.find((t) => t.id === "read")
  expect(read?.parameters?.required?.includes("filePath"), JSON.stringify(read))
})
await check("v2 file.read", async () => {
  const content = data(await v2.file.read({ path: "src/main.rs" }))
  expect(content.type === "text", JSON.stringify(content))
})
await check("v2 event.subscribe yields server.connected", async () => {
  const controller = new AbortController()
  const events = await v2.event.subscribe({}, { signal: controller.signal, sseMaxRetryAttempts: 1 })
  for await (const event of events.stream) {
    expect(event.type === "server.connected", JSON.stringify(event))
    break
  }
  controller.abort()
})

await check("v2 global.event yields a wrapped server.connected", async () => {
  const controller = new AbortController()
  const events = await v2.global.event({ signal: controller.signal, sseMaxRetryAttempts: 1 })
  for await (const event of events.stream) {
    expect(event.payload?.type === "server.connected", JSON.stringify(event))
    break
  }
  controller.abort()
})

finish()
