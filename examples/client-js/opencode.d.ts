// Types of `opencode.mjs`, the client of wasmcode's `/v1` surface.

export interface ClientOptions {
  /** The server, default `http://127.0.0.1:4096`. */
  baseUrl?: string;
  /** A bearer token (`server.auth` tokens in opencode.json). */
  token?: string;
  /** With `password`: HTTP basic auth (OPENCODE_SERVER_USERNAME, default `opencode`). */
  username?: string;
  password?: string;
  /** The project directory, when it is not the server's own. */
  directory?: string;
  fetch?: typeof fetch;
}

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string | { type: "text"; text: string }[];
}

export interface ChatInput {
  messages: ChatMessage[];
  /** `provider/model`, or a model id a connected provider offers. */
  model?: string;
  /** Skills whose instructions join the system prompt. */
  skills?: string[];
  /** Continue this session instead of starting one. */
  session_id?: string;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ChatResponse {
  id: string;
  model: string;
  sessionId: string;
  /** The assistant's answer. */
  content: string;
  finishReason: string;
  usage: Usage;
  /** The server's `chat.completion` as it came. */
  raw: unknown;
}

export type ChatChunk =
  | { type: "text"; delta: string; index: number }
  | { type: "tool_use"; delta: ""; tool: { id: string; name: string; status: string; [key: string]: unknown } }
  | { type: "usage"; delta: ""; sessionId: string; usage: Usage };

export interface ChatFunction {
  (input: ChatInput): Promise<ChatResponse>;
  /** The answer as it is written; stopping early aborts the turn. */
  stream(input: ChatInput, init?: { signal?: AbortSignal }): AsyncGenerator<ChatChunk, void, undefined>;
}

export interface Tool {
  id: string;
  description: string;
  parameters: Record<string, unknown>;
}

export interface ToolResult {
  tool: string;
  title: string;
  /** The tool's output text. */
  content: string;
  metadata: Record<string, unknown>;
}

export interface Model {
  id: string;
  object: "model";
  owned_by: string;
  name: string;
  context_length: number;
  max_output_tokens: number;
  tool_call: boolean;
  default: boolean;
}

export interface Skill {
  name: string;
  description: string;
  [key: string]: unknown;
}

export class OpenCodeError extends Error {
  status?: number;
  errorName?: string;
  body?: unknown;
}

export class OpenCode {
  constructor(options?: ClientOptions);
  chat: ChatFunction;
  tools: {
    list(): Promise<Tool[]>;
    /** `read_file` is an alias of `read`, with `path` for `filePath`. */
    execute(id: string, args?: Record<string, unknown>): Promise<ToolResult>;
  };
  models: { list(): Promise<Model[]> };
  skills: { list(): Promise<Skill[]> };
  sessions: {
    list(): Promise<unknown[]>;
    create(input?: { title?: string }): Promise<unknown>;
  };
}
