// An OpenAI-compatible LLM provider for wasmcode, written in JavaScript.
//
// A component of the `wasmcode:plugin/provider-plugin` world, built with componentize-js:
//
//     componentize-js provider.js --wit ../../wit --world-name provider-plugin \
//         --disable fetch-event -o provider_openai_js.wasm
//
// It streams `POST {baseURL}/chat/completions` over `wasi:http` (the host lets it reach only the
// configured base URL's host and port) and turns the server-sent events into the contract's
// stream events: text, reasoning, tool calls, usage and the finish reason. The export is
// synchronous, so it uses `wasi:http` directly rather than `fetch`.

import { handle } from "wasi:http/outgoing-handler@0.2.12";
import { Fields, OutgoingBody, OutgoingRequest } from "wasi:http/types@0.2.12";

// The most bytes one `blocking-write-and-flush` may take.
const WRITE_CHUNK = 4096;
// The most of an upstream error body kept for the session's error message.
const ERROR_BODY_LIMIT = 8192;

const encoder = new TextEncoder();

/** A provider error, thrown inside the plugin and returned to the host as `err`. */
class ProviderFailure extends Error {
  constructor(tag, val) {
    super(typeof val === "string" ? val : `${tag}`);
    this.tag = tag;
    this.val = val;
  }
}

function connection(message) {
  return new ProviderFailure("connection", message);
}

function protocol(message) {
  return new ProviderFailure("protocol", message);
}

/** Turns a failure into the WIT `provider-error`; anything else is a bug and traps. */
function asError(error) {
  if (error instanceof ProviderFailure) return { tag: error.tag, val: error.val };
  throw error;
}

function models(config) {
  const options = jsonObject(config.optionsJson);
  const map = isObject(options.models) ? options.models : {};
  return Object.keys(map)
    .sort()
    .filter((key) => isObject(map[key]))
    .map((key) => {
      const entry = map[key];
      const limit = isObject(entry.limit) ? entry.limit : {};
      return {
        id: String(entry.id || key),
        name: String(entry.name || key),
        contextLimit: u32(limit.context),
        outputLimit: u32(limit.output),
        toolCall: entry.tool_call !== false,
        reasoning: entry.reasoning === true,
        attachment: entry.attachment === true,
      };
    });
}

function stream(request) {
  try {
    const body = encoder.encode(JSON.stringify(requestBody(request)));
    const headers = [
      ["content-type", "application/json"],
      ["accept", "text/event-stream"],
    ];
    if (request.config.apiKey) headers.push(["authorization", `Bearer ${request.config.apiKey}`]);
    for (const [name, value] of request.config.headers) headers.push([name.toLowerCase(), value]);
    const response = post(endpoint(request.config.baseUrl, "chat/completions"), headers, body);
    return new CompletionStream(response);
  } catch (error) {
    // A top-level `result` export returns `ok` or throws its `err` payload.
    throw asError(error);
  }
}

/** One upstream response, read a chunk at a time as the host asks for events. */
class CompletionStream {
  constructor(response) {
    this.body = response;
    this.buffer = "";
    this.decoder = new TextDecoder();
    this.pending = [];
    this.calls = new Map();
    this.callsEmitted = false;
    this.finish = undefined;
    this.usage = undefined;
    this.sawDone = false;
    this.ended = false;
  }

  next() {
    try {
      while (this.pending.length === 0) {
        if (this.ended) return undefined;
        this.advance();
      }
      return { tag: "ok", val: this.pending.shift() };
    } catch (error) {
      this.ended = true;
      this.pending = [];
      return { tag: "err", val: asError(error) };
    }
  }

  /** Reads until at least one event is pending or the stream is over. */
  advance() {
    const chunk = this.body.read();
    if (chunk === undefined) {
      this.end();
      return;
    }
    this.buffer += this.decoder.decode(chunk, { stream: true });
    for (;;) {
      const cut = eventBoundary(this.buffer);
      if (cut === undefined) return;
      const raw = this.buffer.slice(0, cut[0]);
      this.buffer = this.buffer.slice(cut[1]);
      if (this.event(raw)) {
        this.sawDone = true;
        this.end();
        return;
      }
    }
  }

  /** Decodes one SSE event; true when it was `[DONE]`. */
  event(raw) {
    const data = raw
      .split(/\r\n|\r|\n/)
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).replace(/^ /, ""))
      .join("\n")
      .trim();
    if (data === "[DONE]") return true;
    if (data === "") return false;
    let chunk;
    try {
      chunk = JSON.parse(data);
    } catch (error) {
      throw protocol(`the upstream sent a chunk that is not JSON (${error.message}): ${data.slice(0, 200)}`);
    }
    if (!isObject(chunk)) throw protocol(`the upstream sent a chunk that is not an object: ${data.slice(0, 200)}`);
    if (chunk.error !== undefined && chunk.error !== null) {
      const code = isObject(chunk.error) ? chunk.error.code : undefined;
      const status = Number.isInteger(code) && code >= 400 && code < 600 ? code : 500;
      throw new ProviderFailure("status", { status, body: data, retryAfterMs: undefined });
    }
    for (const choice of chunk.choices || []) {
      if ((choice.index || 0) !== 0) continue;
      const delta = choice.delta || {};
      for (const key of ["reasoning_content", "reasoning"]) {
        if (delta[key]) this.pending.push({ tag: "reasoning-delta", val: delta[key] });
      }
      if (delta.content) this.pending.push({ tag: "text-delta", val: delta.content });
      for (const call of delta.tool_calls || []) this.toolCallDelta(call);
      if (choice.finish_reason) {
        this.flushCalls();
        this.finish = finishReason(choice.finish_reason);
      }
    }
    if (isObject(chunk.usage)) this.usage = usage(chunk.usage);
    return false;
  }

  toolCallDelta(delta) {
    const index = Number.isInteger(delta.index) ? delta.index : Math.max(0, ...this.calls.keys());
    if (!this.calls.has(index)) this.calls.set(index, { id: "", name: "", arguments: "", started: false });
    const call = this.calls.get(index);
    if (delta.id && !call.id) call.id = delta.id;
    const fn = delta.function || {};
    if (fn.name && !call.name) call.name = fn.name;
    call.arguments += fn.arguments || "";
    if (!call.started && call.name) {
      call.id = call.id || `call_${this.calls.size - 1}`;
      call.started = true;
      this.pending.push({ tag: "tool-call-start", val: { id: call.id, name: call.name } });
    }
  }

  flushCalls() {
    const ordered = [...this.calls.entries()].sort((a, b) => a[0] - b[0]);
    ordered.forEach(([index, call], ordinal) => {
      if (!call.name) throw protocol(`the upstream streamed a tool call (index ${index}) without a function name`);
      const id = call.id || `call_${ordinal}`;
      if (!call.started) this.pending.push({ tag: "tool-call-start", val: { id, name: call.name } });
      const argumentsJson = call.arguments.trim() ? call.arguments : "{}";
      this.pending.push({ tag: "tool-call", val: { id, name: call.name, argumentsJson } });
      this.callsEmitted = true;
    });
    this.calls.clear();
  }

  end() {
    this.ended = true;
    if (this.finish === undefined && !this.sawDone) {
      throw connection("the upstream closed the stream before the model finished");
    }
    this.flushCalls();
    if (this.usage !== undefined) this.pending.push({ tag: "usage", val: this.usage });
    let reason = this.finish;
    // Some servers say `stop` after streaming tool calls; the session must still run them.
    if (this.callsEmitted && (reason === undefined || reason === "stop")) reason = "tool-calls";
    this.pending.push({ tag: "finish", val: reason || "stop" });
  }
}

function requestBody(request) {
  const messages = request.system.filter((text) => text).map((content) => ({ role: "system", content }));
  for (const message of request.messages) messages.push(...chatMessages(message));
  const body = {
    model: request.model,
    messages,
    stream: true,
    stream_options: { include_usage: true },
  };
  if (request.maxTokens !== undefined) body.max_tokens = request.maxTokens;
  if (request.temperature !== undefined) body.temperature = Number(request.temperature.toPrecision(6));
  if (request.tools.length > 0) {
    body.tools = request.tools.map((tool) => {
      let parameters;
      try {
        parameters = JSON.parse(tool.parametersSchema);
      } catch (error) {
        throw new ProviderFailure(
          "invalid-request",
          `the parameter schema of tool \`${tool.name}\` is not JSON: ${error.message}`,
        );
      }
      return { type: "function", function: { name: tool.name, description: tool.description, parameters } };
    });
    body.tool_choice = "auto";
  }
  Object.assign(body, jsonObject(request.optionsJson));
  return body;
}

function chatMessages(message) {
  const out = [];
  const texts = [];
  const calls = [];
  for (const part of message.content) {
    if (part.tag === "tool-result") {
      out.push({ role: "tool", tool_call_id: part.val.callId, content: part.val.output });
    } else if (part.tag === "text") {
      texts.push(part.val);
    } else if (part.tag === "tool-call") {
      calls.push({
        id: part.val.id,
        type: "function",
        function: { name: part.val.name, arguments: part.val.argumentsJson },
      });
    }
  }
  if (message.role === "user" && texts.length > 0) {
    const content = texts.length === 1 ? texts[0] : texts.map((text) => ({ type: "text", text }));
    out.push({ role: "user", content });
  } else if (message.role === "assistant" && (texts.length > 0 || calls.length > 0)) {
    const assistant = { role: "assistant", content: texts.join("") || null };
    if (calls.length > 0) assistant.tool_calls = calls;
    out.push(assistant);
  }
  return out;
}

function finishReason(reason) {
  switch (reason) {
    case "stop":
    case "end_turn":
      return "stop";
    case "length":
    case "max_tokens":
      return "length";
    case "tool_calls":
    case "function_call":
      return "tool-calls";
    case "content_filter":
      return "content-filter";
    default:
      return "other";
  }
}

function usage(raw) {
  const cached = count((raw.prompt_tokens_details || {}).cached_tokens);
  const prompt = count(raw.prompt_tokens);
  return {
    inputTokens: prompt > cached ? prompt - cached : 0n,
    outputTokens: count(raw.completion_tokens),
    reasoningTokens: count((raw.completion_tokens_details || {}).reasoning_tokens),
    cacheReadTokens: cached,
    cacheWriteTokens: 0n,
  };
}

/** Where the first complete SSE event ends, as [end of event, start of the rest]. */
function eventBoundary(buffer) {
  const match = /\r\n\r\n|\n\n|\r\r/.exec(buffer);
  return match ? [match.index, match.index + match[0].length] : undefined;
}

/**
 * A successful upstream response's body, read chunk by chunk. WASI resources must be dropped
 * children first (stream, body, response), so they are disposed of explicitly, in that order.
 */
class ResponseBody {
  constructor(response) {
    this.response = response;
    this.incoming = response.consume();
    this.stream = this.incoming.stream();
    this.done = false;
  }

  read() {
    if (this.done) return undefined;
    try {
      return this.stream.blockingRead(65536n);
    } catch (error) {
      this.close();
      if (error.payload && error.payload.tag === "closed") return undefined;
      throw connection("the upstream connection broke mid-stream");
    }
  }

  close() {
    if (this.done) return;
    this.done = true;
    for (const resource of [this.stream, this.incoming, this.response]) resource[Symbol.dispose]();
  }
}

function post(url, headers, body) {
  const { scheme, authority, path } = splitUrl(url);
  let fields;
  try {
    const entries = [...headers, ["content-length", String(body.length)]];
    fields = Fields.fromList(entries.map(([name, value]) => [name, encoder.encode(value)]));
  } catch (error) {
    throw new ProviderFailure("invalid-request", `a configured header is not valid HTTP: ${describe(error)}`);
  }
  const request = new OutgoingRequest(fields);
  request.setMethod({ tag: "post" });
  request.setScheme({ tag: scheme === "https" ? "HTTPS" : "HTTP" });
  request.setAuthority(authority);
  request.setPathWithQuery(path);
  const outgoing = request.body();
  const pending = handle(request, undefined);
  let writeFailed = false;
  try {
    const stream = outgoing.write();
    try {
      for (let start = 0; start < body.length; start += WRITE_CHUNK) {
        stream.blockingWriteAndFlush(body.subarray(start, start + WRITE_CHUNK));
      }
    } finally {
      stream[Symbol.dispose]();
    }
    OutgoingBody.finish(outgoing, undefined);
  } catch {
    // A refused request closes the body first; the response says why.
    writeFailed = true;
  }
  const ready = pending.subscribe();
  ready.block();
  ready[Symbol.dispose]();
  const outcome = pending.get();
  pending[Symbol.dispose]();
  if (outcome === undefined || outcome.tag === "err" || outcome.val.tag === "err") {
    const code = outcome && outcome.tag === "ok" ? outcome.val.val : undefined;
    if (code && code.tag === "HTTP-request-denied") {
      throw new ProviderFailure("denied", `the host does not allow requests to ${authority}`);
    }
    if (writeFailed) throw connection(`sending the request to ${authority} failed`);
    throw connection(`${authority} could not be reached: ${code ? code.tag : "no response"}`);
  }
  const response = outcome.val.val;
  const status = response.status();
  if (status < 200 || status >= 300) {
    const fields = response.headers();
    const responseHeaders = new Map(
      fields.entries().map(([name, value]) => [name.toLowerCase(), new TextDecoder().decode(value)]),
    );
    fields[Symbol.dispose]();
    const body = readBounded(response);
    response[Symbol.dispose]();
    throw new ProviderFailure("status", { status, body, retryAfterMs: retryAfter(responseHeaders) });
  }
  return new ResponseBody(response);
}

function readBounded(response) {
  const incoming = response.consume();
  const stream = incoming.stream();
  const decoder = new TextDecoder();
  let text = "";
  let read = 0;
  while (read < ERROR_BODY_LIMIT) {
    let bytes;
    try {
      bytes = stream.blockingRead(BigInt(ERROR_BODY_LIMIT - read));
    } catch {
      break;
    }
    read += bytes.length;
    text += decoder.decode(bytes, { stream: true });
  }
  stream[Symbol.dispose]();
  incoming[Symbol.dispose]();
  return text;
}

function retryAfter(headers) {
  for (const [name, scale] of [
    ["retry-after-ms", 1],
    ["retry-after", 1000],
  ]) {
    const value = Number.parseFloat(headers.get(name));
    if (Number.isFinite(value) && value >= 0) return BigInt(Math.ceil(value * scale));
  }
  return undefined;
}

function splitUrl(url) {
  const match = /^(https?):\/\/([^/]+)(\/.*)?$/.exec(url);
  if (!match) throw new ProviderFailure("invalid-request", `the base URL \`${url}\` is not an http(s) URL`);
  return { scheme: match[1], authority: match[2], path: match[3] || "/" };
}

function endpoint(baseUrl, path) {
  return `${baseUrl.replace(/\/+$/, "")}/${path}`;
}

function describe(error) {
  return error.payload ? JSON.stringify(error.payload) : String(error);
}

function jsonObject(text) {
  try {
    const value = text ? JSON.parse(text) : {};
    return isObject(value) ? value : {};
  } catch {
    return {};
  }
}

function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function u32(value) {
  return Number.isInteger(value) && value >= 0 && value < 2 ** 32 ? value : 0;
}

function count(value) {
  return Number.isInteger(value) && value >= 0 ? BigInt(value) : 0n;
}

export const provider = { models, stream, CompletionStream };
