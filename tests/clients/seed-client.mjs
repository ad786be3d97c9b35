// The seed's own client code against a running server, through `examples/client-js`: chat,
// chat.stream, tools.execute('read_file'), models, skills, sessions, with a bearer token.
// usage: node seed-client.mjs BASE_URL TOKEN
import assert from "node:assert/strict";
import { OpenCode, OpenCodeError } from "../../examples/client-js/opencode.mjs";

const [baseUrl, token] = process.argv.slice(2);

const anonymous = new OpenCode({ baseUrl });
await assert.rejects(anonymous.models.list(), (error) => error instanceof OpenCodeError && error.status === 401);

const client = new OpenCode({ baseUrl, token });

const response = await client.chat({
  messages: [{ role: "user", content: "Review this code" }],
  skills: [],
});
assert.equal(response.content, "Looks fine.");
assert.equal(response.finishReason, "stop");
assert.match(response.sessionId, /^ses/);
console.log(`chat: ${response.content}`);

let streamed = "";
const kinds = new Set();
for await (const chunk of client.chat.stream({ messages: [{ role: "user", content: "Write a README" }] })) {
  streamed += chunk.delta;
  kinds.add(chunk.type);
}
assert.equal(streamed, "# Title\nBody.");
assert.ok(kinds.has("text") && kinds.has("usage"), [...kinds].join(","));
console.log(`stream: ${JSON.stringify(streamed)}`);

const result = await client.tools.execute("read_file", { path: "./src/index.ts" });
assert.equal(result.tool, "read");
assert.match(result.content, /export const answer = 42;/);
console.log(`tool: ${result.tool}`);

const models = await client.models.list();
assert.ok(models.some((m) => m.id === "fake/fake-model" && m.default), JSON.stringify(models));
const tools = await client.tools.list();
assert.ok(tools.some((t) => t.id === "read"));
assert.ok(Array.isArray(await client.skills.list()));
const created = await client.sessions.create({ title: "From the seed client" });
const sessions = await client.sessions.list();
assert.ok(sessions.some((s) => s.id === created.id), JSON.stringify(sessions));

await assert.rejects(
  client.tools.execute("no_such_tool", {}),
  (error) => error instanceof OpenCodeError && error.status === 404,
);
console.log("done");
