// A small client for wasmcode's `/v1` surface, the one the product's seed document shows:
//
//   const client = new OpenCode({ baseUrl: "http://127.0.0.1:4096" });
//   const response = await client.chat({ messages: [{ role: "user", content: "Hi" }] });
//   console.log(response.content);
//   for await (const chunk of client.chat.stream({ messages })) process.stdout.write(chunk.delta);
//   const result = await client.tools.execute("read_file", { path: "./src/index.ts" });
//   console.log(result.content);
//
// Plain `fetch` and nothing else: it runs in Node 18+, Deno, Bun and browsers. Types are in
// `opencode.d.ts`.

/** An answer other than 2xx, or an `error` event in a stream. */
export class OpenCodeError extends Error {
  constructor(message, { status, name, body } = {}) {
    super(message);
    this.name = "OpenCodeError";
    this.status = status;
    this.errorName = name;
    this.body = body;
  }
}

export class OpenCode {
  /**
   * @param {object} options
   * @param {string} [options.baseUrl] the server, default `http://127.0.0.1:4096`
   * @param {string} [options.token] a bearer token (`server.auth` tokens in opencode.json)
   * @param {string} [options.username] with `password`: HTTP basic auth (OPENCODE_SERVER_PASSWORD)
   * @param {string} [options.password]
   * @param {string} [options.directory] the project directory, when not the server's own
   * @param {typeof fetch} [options.fetch]
   */
  constructor(options = {}) {
    this.baseUrl = (options.baseUrl ?? "http://127.0.0.1:4096").replace(/\/+$/, "");
    this.directory = options.directory;
    this.headers = {};
    if (options.token) {
      this.headers.authorization = `Bearer ${options.token}`;
    } else if (options.password !== undefined) {
      const credentials = `${options.username ?? "opencode"}:${options.password}`;
      this.headers.authorization = `Basic ${btoa(credentials)}`;
    }
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);

    // `client.chat(input)` answers once the turn is over; `client.chat.stream(input)` streams it.
    const chat = (input) => this.#chat(input);
    chat.stream = (input, init) => this.#stream(input, init);
    this.chat = chat;
    this.tools = {
      list: () => this.#request("GET", "/v1/tools"),
      execute: (id, args = {}) =>
        this.#request("POST", `/v1/tools/${encodeURIComponent(id)}/execute`, args),
    };
    this.models = { list: async () => (await this.#request("GET", "/v1/models")).data };
    this.skills = { list: () => this.#request("GET", "/v1/skills") };
    this.sessions = {
      list: () => this.#request("GET", "/v1/sessions"),
      create: (input = {}) => this.#request("POST", "/v1/sessions", input),
    };
  }

  async #chat(input) {
    const completion = await this.#request("POST", "/v1/chat", input);
    const choice = completion.choices[0];
    return {
      id: completion.id,
      model: completion.model,
      sessionId: completion.session_id,
      content: choice.message.content,
      finishReason: choice.finish_reason,
      usage: completion.usage,
      raw: completion,
    };
  }

  /** Yields `{ delta }` for each piece of the answer's text; throws on an `error` event. */
  async *#stream(input, init = {}) {
    const response = await this.#send("POST", "/v1/chat/stream", input, {
      accept: "text/event-stream",
      signal: init.signal,
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let boundary;
        while ((boundary = buffer.search(/\r?\n\r?\n/)) >= 0) {
          const block = buffer.slice(0, boundary);
          buffer = buffer.slice(boundary).replace(/^\r?\n\r?\n/, "");
          const event = parseEvent(block);
          if (!event) continue;
          if (event.type === "content_block_delta") {
            yield { type: "text", delta: event.data.delta.text, index: event.data.index ?? 0 };
          } else if (event.type === "tool_use") {
            yield { type: "tool_use", delta: "", tool: event.data };
          } else if (event.type === "message_delta") {
            yield { type: "usage", delta: "", sessionId: event.data.session_id, usage: event.data.usage };
          } else if (event.type === "error") {
            const error = event.data.error ?? {};
            throw new OpenCodeError(error.message ?? "the turn failed", { name: error.type, body: event.data });
          } else if (event.type === "message_stop") {
            return;
          }
        }
      }
    } finally {
      // Leaving the loop early closes the stream, which aborts the turn on the server.
      await reader.cancel().catch(() => {});
    }
  }

  async #request(method, path, body) {
    const response = await this.#send(method, path, body, { accept: "application/json" });
    return response.json();
  }

  async #send(method, path, body, { accept, signal }) {
    const url = new URL(this.baseUrl + path);
    if (this.directory) url.searchParams.set("directory", this.directory);
    const headers = { ...this.headers, accept };
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await this.fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
    if (!response.ok) {
      const text = await response.text();
      let parsed;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      const message = parsed?.data?.message ?? parsed?.message ?? (text || response.statusText);
      throw new OpenCodeError(`${method} ${path}: ${response.status} ${message}`, {
        status: response.status,
        name: parsed?.name,
        body: parsed ?? text,
      });
    }
    return response;
  }
}

/** One server-sent event block as `{ type, data }`; comments and heartbeats give `undefined`. */
function parseEvent(block) {
  let type = "message";
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith("event:")) type = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (data.length === 0 || type === "ping") return undefined;
  return { type, data: JSON.parse(data.join("\n")) };
}
