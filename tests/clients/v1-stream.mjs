// A web page's view of /v1/chat/stream, run in node: a cross-origin preflight as a browser sends
// it, then the seed's fetch + ReadableStream SSE handling. Usage: node v1-stream.mjs BASE ORIGIN
const [base, origin] = process.argv.slice(2);

const preflight = await fetch(`${base}/v1/chat/stream`, {
  method: "OPTIONS",
  headers: {
    Origin: origin,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type",
  },
});
if (preflight.headers.get("access-control-allow-origin") !== origin) {
  console.log(`preflight refused: ${preflight.status} ${preflight.headers.get("access-control-allow-origin")}`);
  process.exit(1);
}

const response = await fetch(`${base}/v1/chat/stream`, {
  method: "POST",
  headers: { "Content-Type": "application/json", Origin: origin },
  body: JSON.stringify({ messages: [{ role: "user", content: "Write quicksort" }] }),
});
if (!response.ok || response.headers.get("access-control-allow-origin") !== origin) {
  console.log(`request refused: ${response.status}`);
  process.exit(1);
}

// The seed's client: split the stream into events, print the text deltas, stop at message_stop.
const reader = response.body.getReader();
const decoder = new TextDecoder();
let buffer = "";
let text = "";
let stopped = false;
while (!stopped) {
  const { value, done } = await reader.read();
  if (done) break;
  buffer += decoder.decode(value, { stream: true });
  let end;
  while ((end = buffer.indexOf("\n\n")) >= 0) {
    const frame = buffer.slice(0, end);
    buffer = buffer.slice(end + 2);
    const event = /^event: ?(.*)$/m.exec(frame)?.[1];
    const data = /^data: ?(.*)$/m.exec(frame)?.[1];
    if (event === "content_block_delta") text += JSON.parse(data).delta.text;
    if (event === "message_stop") stopped = true;
  }
}
console.log(`text: ${text}`);
console.log(stopped ? "done" : "the stream ended without message_stop");
process.exit(stopped ? 0 : 1);
