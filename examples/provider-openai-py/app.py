"""An OpenAI-compatible LLM provider for wasmcode, written in Python.

A component of the `wasmcode:plugin/provider-plugin` world, built with componentize-py:

    componentize-py -d ../../wit -w provider-plugin componentize app -o provider_openai_py.wasm

It streams `POST {baseURL}/chat/completions` over `wasi:http` (the host lets it reach only the
configured base URL's host and port) and turns the server-sent events into the contract's
stream events: text, reasoning, tool calls, usage and the finish reason.
"""

import json
from typing import List, Optional

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.exports import provider as api
from wit_world.imports import outgoing_handler, streams
from wit_world.imports import wasi_http_types as http

# The most bytes one `blocking-write-and-flush` may take.
WRITE_CHUNK = 4096
# The most of an upstream error body kept for the session's error message.
ERROR_BODY_LIMIT = 8192


class Provider(exports.Provider):
    def models(self, config: api.ProviderConfig) -> List[api.ModelInfo]:
        """The models of the provider block's `models` map, sorted by id."""
        options = _json_object(config.options_json)
        models = options.get("models") if isinstance(options.get("models"), dict) else {}
        found = []
        for key, entry in sorted(models.items()):
            if not isinstance(entry, dict):
                continue
            limit = entry.get("limit") if isinstance(entry.get("limit"), dict) else {}
            found.append(
                api.ModelInfo(
                    id=str(entry.get("id") or key),
                    name=str(entry.get("name") or key),
                    context_limit=_u32(limit.get("context")),
                    output_limit=_u32(limit.get("output")),
                    tool_call=bool(entry.get("tool_call", True)),
                    reasoning=bool(entry.get("reasoning", False)),
                    attachment=bool(entry.get("attachment", False)),
                )
            )
        return found

    def stream(self, request: api.CompletionRequest) -> api.CompletionStream:
        body = json.dumps(_request_body(request)).encode()
        headers = [("content-type", "application/json"), ("accept", "text/event-stream")]
        if request.config.api_key:
            headers.append(("authorization", "Bearer " + request.config.api_key))
        headers.extend((name.lower(), value) for name, value in request.config.headers)
        response = _post(_endpoint(request.config.base_url, "chat/completions"), headers, body)
        return CompletionStream(response)


class CompletionStream(api.CompletionStream):
    """One upstream response, read a chunk at a time as the host asks for events."""

    def __init__(self, response: "_Response") -> None:
        self.response = response
        self.buffer = b""
        self.pending: List[api.StreamEvent] = []
        self.calls: dict = {}
        self.calls_emitted = False
        self.finish: Optional[api.FinishReason] = None
        self.usage: Optional[api.Usage] = None
        self.saw_done = False
        self.ended = False

    def next(self):
        try:
            while not self.pending:
                if self.ended:
                    return None
                self._advance()
            return Ok(self.pending.pop(0))
        except Err as error:
            self.ended = True
            self.pending.clear()
            return error

    def _advance(self) -> None:
        """Reads until at least one event is pending or the stream is over."""
        chunk = self.response.read()
        if chunk is None:
            self._end()
            return
        self.buffer += chunk
        while True:
            cut = _event_boundary(self.buffer)
            if cut is None:
                return
            raw, self.buffer = self.buffer[: cut[0]], self.buffer[cut[1] :]
            if self._event(raw.decode("utf-8", "replace")):
                self.saw_done = True
                self._end()
                return

    def _event(self, raw: str) -> bool:
        """Decodes one SSE event; true when it was `[DONE]`."""
        data = "\n".join(
            line[5:].lstrip(" ") if line.startswith("data:") else ""
            for line in raw.splitlines()
            if line.startswith("data:")
        ).strip()
        if data == "[DONE]":
            return True
        if not data:
            return False
        try:
            chunk = json.loads(data)
        except ValueError as error:
            raise Err(api.ProviderError_Protocol(f"the upstream sent a chunk that is not JSON ({error}): {data[:200]}"))
        if not isinstance(chunk, dict):
            raise Err(api.ProviderError_Protocol(f"the upstream sent a chunk that is not an object: {data[:200]}"))
        if chunk.get("error") is not None:
            code = chunk["error"].get("code") if isinstance(chunk["error"], dict) else None
            status = code if isinstance(code, int) and 400 <= code < 600 else 500
            raise Err(api.ProviderError_Status(api.StatusError(status=status, body=data, retry_after_ms=None)))
        for choice in chunk.get("choices") or []:
            if (choice.get("index") or 0) != 0:
                continue
            delta = choice.get("delta") or {}
            for key in ("reasoning_content", "reasoning"):
                if delta.get(key):
                    self.pending.append(api.StreamEvent_ReasoningDelta(delta[key]))
            if delta.get("content"):
                self.pending.append(api.StreamEvent_TextDelta(delta["content"]))
            for call in delta.get("tool_calls") or []:
                self._tool_call_delta(call)
            if choice.get("finish_reason"):
                self._flush_calls()
                self.finish = _finish_reason(choice["finish_reason"])
        if isinstance(chunk.get("usage"), dict):
            self.usage = _usage(chunk["usage"])
        return False

    def _tool_call_delta(self, delta: dict) -> None:
        index = delta.get("index")
        if index is None:
            index = max(self.calls, default=0)
        call = self.calls.setdefault(index, {"id": "", "name": "", "arguments": "", "started": False})
        if delta.get("id") and not call["id"]:
            call["id"] = delta["id"]
        function = delta.get("function") or {}
        if function.get("name") and not call["name"]:
            call["name"] = function["name"]
        call["arguments"] += function.get("arguments") or ""
        if not call["started"] and call["name"]:
            call["id"] = call["id"] or f"call_{len(self.calls) - 1}"
            call["started"] = True
            self.pending.append(api.StreamEvent_ToolCallStart(api.ToolCallStart(id=call["id"], name=call["name"])))

    def _flush_calls(self) -> None:
        for ordinal, (index, call) in enumerate(sorted(self.calls.items())):
            if not call["name"]:
                raise Err(api.ProviderError_Protocol(f"the upstream streamed a tool call (index {index}) without a function name"))
            call_id = call["id"] or f"call_{ordinal}"
            if not call["started"]:
                self.pending.append(api.StreamEvent_ToolCallStart(api.ToolCallStart(id=call_id, name=call["name"])))
            arguments = call["arguments"] if call["arguments"].strip() else "{}"
            self.pending.append(api.StreamEvent_ToolCall(api.ToolCall(id=call_id, name=call["name"], arguments_json=arguments)))
            self.calls_emitted = True
        self.calls.clear()

    def _end(self) -> None:
        self.ended = True
        if self.finish is None and not self.saw_done:
            # A stream without `[DONE]` and without a finish reason was cut short.
            raise Err(api.ProviderError_Connection("the upstream closed the stream before the model finished"))
        self._flush_calls()
        if self.usage is not None:
            self.pending.append(api.StreamEvent_Usage(self.usage))
        reason = self.finish
        if self.calls_emitted and reason in (None, api.FinishReason.STOP):
            # Some servers say `stop` after streaming tool calls; the session must still run them.
            reason = api.FinishReason.TOOL_CALLS
        self.pending.append(api.StreamEvent_Finish(reason if reason is not None else api.FinishReason.STOP))


def _request_body(request: api.CompletionRequest) -> dict:
    messages: list = [{"role": "system", "content": text} for text in request.system if text]
    for message in request.messages:
        messages.extend(_chat_messages(message))
    body: dict = {
        "model": request.model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = round(request.temperature, 6)
    if request.tools:
        tools = []
        for tool in request.tools:
            try:
                parameters = json.loads(tool.parameters_schema)
            except ValueError as error:
                raise Err(api.ProviderError_InvalidRequest(f"the parameter schema of tool `{tool.name}` is not JSON: {error}"))
            tools.append({"type": "function", "function": {"name": tool.name, "description": tool.description, "parameters": parameters}})
        body["tools"] = tools
        body["tool_choice"] = "auto"
    body.update(_json_object(request.options_json))
    return body


def _chat_messages(message: api.Message) -> list:
    out = []
    texts, calls = [], []
    for part in message.content:
        if isinstance(part, api.ContentPart_ToolResult):
            out.append({"role": "tool", "tool_call_id": part.value.call_id, "content": part.value.output})
        elif isinstance(part, api.ContentPart_Text):
            texts.append(part.value)
        elif isinstance(part, api.ContentPart_ToolCall):
            calls.append({"id": part.value.id, "type": "function", "function": {"name": part.value.name, "arguments": part.value.arguments_json}})
    if message.role == api.Role.USER and texts:
        content = texts[0] if len(texts) == 1 else [{"type": "text", "text": text} for text in texts]
        out.append({"role": "user", "content": content})
    elif message.role == api.Role.ASSISTANT and (texts or calls):
        assistant: dict = {"role": "assistant", "content": "".join(texts) or None}
        if calls:
            assistant["tool_calls"] = calls
        out.append(assistant)
    return out


def _finish_reason(reason: str) -> api.FinishReason:
    return {
        "stop": api.FinishReason.STOP,
        "end_turn": api.FinishReason.STOP,
        "length": api.FinishReason.LENGTH,
        "max_tokens": api.FinishReason.LENGTH,
        "tool_calls": api.FinishReason.TOOL_CALLS,
        "function_call": api.FinishReason.TOOL_CALLS,
        "content_filter": api.FinishReason.CONTENT_FILTER,
    }.get(reason, api.FinishReason.OTHER)


def _usage(usage: dict) -> api.Usage:
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    cached = prompt.get("cached_tokens") or 0
    return api.Usage(
        input_tokens=max((usage.get("prompt_tokens") or 0) - cached, 0),
        output_tokens=usage.get("completion_tokens") or 0,
        reasoning_tokens=completion.get("reasoning_tokens") or 0,
        cache_read_tokens=cached,
        cache_write_tokens=0,
    )


def _event_boundary(buffer: bytes):
    """Where the first complete SSE event ends, as (end of event, start of the rest)."""
    found = None
    for separator in (b"\n\n", b"\r\n\r\n", b"\r\r"):
        at = buffer.find(separator)
        if at >= 0 and (found is None or at < found[0]):
            found = (at, at + len(separator))
    return found


class _Response:
    """A successful upstream response's body, read chunk by chunk.

    WASI resources must be dropped children first (stream, body, response), so they are closed
    explicitly, in that order, rather than left to the garbage collector.
    """

    def __init__(self, response: http.IncomingResponse) -> None:
        self.response = response
        self.body = response.consume()
        self.stream = self.body.stream()
        self.done = False

    def read(self) -> Optional[bytes]:
        if self.done:
            return None
        try:
            return self.stream.blocking_read(65536)
        except Err as error:
            self.close()
            if isinstance(error.value, streams.StreamError_Closed):
                return None
            raise Err(api.ProviderError_Connection("the upstream connection broke mid-stream"))

    def close(self) -> None:
        if not self.done:
            self.done = True
            for resource in (self.stream, self.body, self.response):
                resource.__exit__(None, None, None)

    def __del__(self) -> None:
        self.close()


def _post(url: str, headers: list, body: bytes) -> _Response:
    scheme, authority, path = _split_url(url)
    try:
        fields = http.Fields.from_list([(name, value.encode()) for name, value in headers + [("content-length", str(len(body)))]])
    except Err as error:
        raise Err(api.ProviderError_InvalidRequest(f"a configured header is not valid HTTP: {error.value}"))
    request = http.OutgoingRequest(fields)
    request.set_method(http.Method_Post())
    request.set_scheme(http.Scheme_Https() if scheme == "https" else http.Scheme_Http())
    request.set_authority(authority)
    request.set_path_with_query(path)
    outgoing = request.body()
    pending = outgoing_handler.handle(request, None)
    write_error = None
    try:
        with outgoing.write() as stream:
            for start in range(0, len(body), WRITE_CHUNK):
                stream.blocking_write_and_flush(body[start : start + WRITE_CHUNK])
        http.OutgoingBody.finish(outgoing, None)
    except Err as error:
        # A refused request closes the body first; the response says why.
        write_error = error
    with pending:
        with pending.subscribe() as ready:
            ready.block()
        outcome = pending.get()
    if outcome is None or isinstance(outcome, Err) or isinstance(outcome.value, Err):
        code = outcome.value.value if outcome is not None and isinstance(outcome.value, Err) else None
        if isinstance(code, http.ErrorCode_HttpRequestDenied):
            raise Err(api.ProviderError_Denied(f"the host does not allow requests to {authority}"))
        if write_error is not None:
            raise Err(api.ProviderError_Connection(f"sending the request to {authority} failed"))
        raise Err(api.ProviderError_Connection(f"{authority} could not be reached: {code}"))
    response = outcome.value.value
    status = response.status()
    if status < 200 or status >= 300:
        with response:
            with response.headers() as fields:
                headers = dict((name.lower(), value.decode("latin-1")) for name, value in fields.entries())
            body = _read_bounded(response)
        raise Err(api.ProviderError_Status(api.StatusError(status=status, body=body, retry_after_ms=_retry_after(headers))))
    return _Response(response)


def _read_bounded(response: http.IncomingResponse) -> str:
    body = b""
    with response.consume() as incoming, incoming.stream() as stream:
        while len(body) < ERROR_BODY_LIMIT:
            try:
                body += stream.blocking_read(ERROR_BODY_LIMIT - len(body))
            except Err:
                break
    return body.decode("utf-8", "replace")


def _retry_after(headers: dict) -> Optional[int]:
    for name, scale in (("retry-after-ms", 1), ("retry-after", 1000)):
        try:
            value = float(headers[name])
        except (KeyError, ValueError):
            continue
        if value >= 0:
            return int(value * scale + 0.999)
    return None


def _split_url(url: str):
    scheme, separator, rest = url.partition("://")
    if not separator or scheme not in ("http", "https"):
        raise Err(api.ProviderError_InvalidRequest(f"the base URL `{url}` is not an http(s) URL"))
    authority, _, path = rest.partition("/")
    return scheme, authority, "/" + path


def _endpoint(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _u32(value) -> int:
    return value if isinstance(value, int) and 0 <= value < 2**32 else 0
