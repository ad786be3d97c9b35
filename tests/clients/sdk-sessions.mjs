// Drives sessions on a running wasmcode server with OpenCode's own JS SDK (v1 and v2 exports):
// create/list/get/update/children/fork/abort/delete, a prompt with a tool call, messages,
// prompt_async with events, permission replies through both routes, config update, providers,
// agents and commands. The server talks to a fake model whose answers the Rust test scripted in
// this order. Usage: node sdk-sessions.mjs <baseUrl> <projectDir>
import { createOpencodeClient } from "@opencode-ai/sdk"
import { createOpencodeClient as createV2 } from "@opencode-ai/sdk/v2"
import { check, data, expect, finish } from "./checks.mjs"

const [baseUrl, directory] = process.argv.slice(2)

const v1 = createOpencodeClient({ baseUrl, directory })
const v2 = createV2({ baseUrl, directory })
const text = (t) => [{ type: "text", text: t }]

/** Waits for the first event satisfying `match` on a v1 subscription opened before `start`. */
async function eventDuring(start, match) {
  const controller = new AbortController()
  const events = await v1.event.subscribe({ signal: controller.signal, sseMaxRetryAttempts: 1 })
  const iterator = events.stream[Symbol.asyncIterator]()
  expect((await iterator.next()).value?.type === "server.connected", "server.connected first")
  await start()
  const seen = []
  while (true) {
    const { value, done } = await iterator.next()
    expect(!done, `stream ended; saw ${seen.join(", ")}`)
    seen.push(value.type)
    if (match(value)) {
      controller.abort()
      return { event: value, seen }
    }
  }
}

async function pendingPermission() {
  for (let i = 0; i < 200; i++) {
    const list = data(await v2.permission.list())
    if (list.length) return list[0]
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error("no permission request")
}

let parent
await check("v1 session.create/get/update/list", async () => {
  parent = data(await v1.session.create({ body: { title: "sdk parent" } }))
  expect(parent.id.startsWith("ses_") && parent.title === "sdk parent" && parent.time.created > 0, JSON.stringify(parent))
  const got = data(await v1.session.get({ path: { id: parent.id } }))
  expect(got.id === parent.id && got.directory === directory, JSON.stringify(got))
  const updated = data(await v1.session.update({ path: { id: parent.id }, body: { title: "renamed" } }))
  expect(updated.title === "renamed", JSON.stringify(updated))
  const list = data(await v1.session.list())
  expect(list.some((s) => s.id === parent.id), JSON.stringify(list))
})
await check("v2 session.create child and children", async () => {
  const child = data(await v2.session.create({ parentID: parent.id, title: "child" }))
  expect(child.parentID === parent.id, JSON.stringify(child))
  const children = data(await v1.session.children({ path: { id: parent.id } }))
  expect(children.length === 1 && children[0].id === child.id, JSON.stringify(children))
})
await check("v1 session.prompt with a tool call, then messages and message", async () => {
  const answer = data(await v1.session.prompt({ path: { id: parent.id }, body: { parts: text("Read src/main.rs") } }))
  expect(answer.info.role === "assistant" && answer.info.finish === "stop", JSON.stringify(answer.info))
  expect(answer.parts.some((p) => p.type === "text" && p.text === "The file has main."), JSON.stringify(answer.parts))
  const messages = data(await v1.session.messages({ path: { id: parent.id } }))
  const tool = messages[1].parts.find((p) => p.type === "tool")
  expect(tool?.tool === "read" && tool.state.status === "completed" && tool.state.output.includes("fn main"), JSON.stringify(tool))
  const one = data(await v1.session.message({ path: { id: parent.id, messageID: answer.info.id } }))
  expect(one.info.id === answer.info.id, JSON.stringify(one.info))
})
await check("v2 session.prompt", async () => {
  const session = data(await v2.session.create({}))
  const answer = data(await v2.session.prompt({ sessionID: session.id, parts: text("hello") }))
  expect(answer.parts.some((p) => p.type === "text" && p.text === "Hello from v2"), JSON.stringify(answer.parts))
})
await check("v1 session.promptAsync then events until idle", async () => {
  const session = data(await v1.session.create({ body: {} }))
  const { seen } = await eventDuring(
    async () => {
      const result = await v1.session.promptAsync({ path: { id: session.id }, body: { parts: text("async") } })
      expect(result.response.status === 204, `status ${result.response.status}`)
    },
    (e) => e.type === "session.idle" && e.properties.sessionID === session.id,
  )
  expect(seen.includes("message.part.delta") && seen.includes("message.updated"), seen.join(", "))
  const messages = data(await v1.session.messages({ path: { id: session.id } }))
  expect(messages.at(-1).parts.some((p) => p.text === "async answer"), JSON.stringify(messages.at(-1)))
})
await check("v2 permission.reply answers a permission.asked", async () => {
  const session = data(await v1.session.create({ body: {} }))
  const prompt = v1.session.prompt({ path: { id: session.id }, body: { parts: text("read .env") } })
  const request = await pendingPermission()
  expect(request.permission === "read" && request.sessionID === session.id, JSON.stringify(request))
  data(await v2.permission.reply({ requestID: request.id, reply: "once" }))
  const answer = data(await prompt)
  expect(answer.parts.some((p) => p.text === "ok once"), JSON.stringify(answer.parts))
})
await check("v1 legacy permission route rejects", async () => {
  const session = data(await v1.session.create({ body: {} }))
  const prompt = v1.session.prompt({ path: { id: session.id }, body: { parts: text("read .env again") } })
  const request = await pendingPermission()
  const ok = data(await v1.postSessionIdPermissionsPermissionId({
    path: { id: session.id, permissionID: request.id },
    body: { response: "reject" },
  }))
  expect(ok === true, JSON.stringify(ok))
  const answer = data(await prompt)
  expect(answer.info.finish === "tool-calls", JSON.stringify(answer.info))
})
await check("v1 session.fork, abort and delete", async () => {
  const forked = data(await v1.session.fork({ path: { id: parent.id }, body: {} }))
  expect(forked.id !== parent.id && forked.title.includes("fork"), JSON.stringify(forked))
  expect(data(await v1.session.abort({ path: { id: forked.id } })) === true, "abort")
  expect(data(await v1.session.delete({ path: { id: forked.id } })) === true, "delete")
  const gone = await v1.session.get({ path: { id: forked.id } })
  expect(gone.response.status === 404, `status ${gone.response.status}`)
})
await check("v1 config.providers, provider.list, app.agents, command.list", async () => {
  const providers = data(await v1.config.providers())
  expect(providers.providers.some((p) => p.id === "fake") && providers.default.fake === "fake-model", JSON.stringify(providers))
  const all = data(await v1.provider.list())
  expect(all.connected.includes("fake"), JSON.stringify(all.connected))
  const agents = data(await v1.app.agents())
  expect(agents.some((a) => a.name === "build" && a.mode === "primary"), JSON.stringify(agents.map((a) => a.name)))
  const commands = data(await v1.command.list())
  expect(commands.some((c) => c.name === "init"), JSON.stringify(commands.map((c) => c.name)))
})
await check("v1 config.update", async () => {
  const config = data(await v1.config.update({ body: { username: "sdk-user" } }))
  expect(config.username === "sdk-user", JSON.stringify(config))
})

finish()
