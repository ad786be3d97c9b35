#!/usr/bin/env python3
"""A fake OpenAI chat-completions upstream for bench/session.sh (stdlib only, loopback only).

usage: fake_upstream.py --readme /abs/path/README.md [--port 0] [--marker TEXT]

It prints "fake upstream listening on 127.0.0.1:PORT" once it accepts connections, then serves:

  POST .../chat/completions   the model. Answers at once (no sleeps), streaming when the request
                              says "stream": true (SSE like OpenAI: one `data: {chunk}` event per
                              chunk, a usage chunk, `data: [DONE]`, chunked transfer encoding on a
                              keep-alive HTTP/1.1 connection), a single JSON completion otherwise.
                              What it answers depends on the request:
                                * a system message starting "You are a title generator": a short title;
                                * the last message is a user message: one tool call, `read` of --readme;
                                * the last message is a tool result: a short text in a few chunks,
                                  finish_reason "stop" (and the result is checked for --marker);
                                * anything else: the same short text.
  GET  .../models             one model, "fake-model".
  GET  /stats                 counters (JSON), see STATS below. Read it before and after a phase and
                              subtract: the counters only grow.

Usage numbers are fixed (1,200 prompt tokens), so neither server ever decides that the context is
full and compacts the session, however long it gets.
"""
import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TITLE_PREFIX = "You are a title generator"
USAGE = {"prompt_tokens": 1200, "completion_tokens": 17, "total_tokens": 1217}
ANSWER = ["Done.", " I read", " the README;", " it describes", " the bench project."]
TITLE = ["Bench", " session"]

# STATS: every counter the fake keeps.
STATS = {
    "connections": 0,        # TCP connections accepted (any path, /stats included)
    "model_connections": 0,  # accepted connections that carried at least one model call
    "open_connections": 0,   # connections open right now
    "max_open_connections": 0,
    "requests": 0,           # HTTP requests of any kind
    "model_calls": 0,        # POST .../chat/completions
    "title_calls": 0,        # ... of which title requests
    "tool_call_answers": 0,  # ... answered with the read tool call
    "text_answers": 0,       # ... answered with text after a tool result
    "other_answers": 0,      # ... anything else (answered with text)
    "stream_calls": 0,       # ... with "stream": true
    "tool_results_ok": 0,    # tool results that contained --marker (the read worked)
    "tool_results_bad": 0,   # tool results that did not
    "bad_requests": 0,       # unparseable bodies, unknown paths
}
last_bad_result = [""]
lock = threading.Lock()


def bump(name, by=1):
    with lock:
        STATS[name] += by


def text_of(content):
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def process_request(self, request, client_address):
        with lock:
            STATS["connections"] += 1
            STATS["open_connections"] += 1
            STATS["max_open_connections"] = max(STATS["max_open_connections"], STATS["open_connections"])
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with lock:
            STATS["open_connections"] -= 1
        super().shutdown_request(request)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # small SSE writes go out at once
    readme = ""
    marker = ""
    seq = [0]

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        self.carried_model_call = False

    def send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        bump("requests")
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/stats":
            with lock:
                snap = dict(STATS)
            snap["last_bad_tool_result"] = last_bad_result[0]
            self.send_json(200, snap)
        elif path.endswith("/models"):
            self.send_json(200, {"object": "list", "data": [
                {"id": "fake-model", "object": "model", "created": 0, "owned_by": "bench"}]})
        else:
            bump("bad_requests")
            self.send_json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})

    def do_POST(self):
        bump("requests")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self.path.split("?", 1)[0].rstrip("/").endswith("/chat/completions"):
            bump("bad_requests")
            return self.send_json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
        try:
            body = json.loads(raw)
            messages = body["messages"]
        except (ValueError, KeyError, TypeError):
            bump("bad_requests")
            return self.send_json(400, {"error": {"message": "bad body", "type": "invalid_request_error"}})
        with lock:
            STATS["model_calls"] += 1
            if not self.carried_model_call:
                STATS["model_connections"] += 1
            self.seq[0] += 1
            n = self.seq[0]
        self.carried_model_call = True

        systems = [text_of(m.get("content")).lstrip() for m in messages if m.get("role") == "system"]
        last = messages[-1] if messages else {}
        if any(s.startswith(TITLE_PREFIX) for s in systems):
            bump("title_calls")
            plan = ("text", TITLE)
        elif last.get("role") == "user":
            bump("tool_call_answers")
            plan = ("tool", "read", {"filePath": self.readme})
        elif last.get("role") == "tool":
            bump("text_answers")
            result = text_of(last.get("content"))
            if self.marker in result:
                bump("tool_results_ok")
            else:
                bump("tool_results_bad")
                last_bad_result[0] = result[:500]
            plan = ("text", ANSWER)
        else:
            bump("other_answers")
            plan = ("text", ANSWER)

        cid = f"chatcmpl-bench{n:06d}"
        created = int(time.time())
        model = body.get("model", "fake-model")
        call_id = f"call_bench{n:06d}"
        if not body.get("stream"):
            if plan[0] == "text":
                message, finish = {"role": "assistant", "content": "".join(plan[1])}, "stop"
            else:
                message = {"role": "assistant", "content": None, "tool_calls": [{
                    "id": call_id, "type": "function",
                    "function": {"name": plan[1], "arguments": json.dumps(plan[2])}}]}
                finish = "tool_calls"
            return self.send_json(200, {
                "id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                "usage": USAGE})

        bump("stream_calls")

        def chunk(delta, finish=None):
            return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                    "system_fingerprint": "fp_bench",
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

        events = [chunk({"role": "assistant", "content": ""})]
        if plan[0] == "text":
            events += [chunk({"content": piece}) for piece in plan[1]]
            events.append(chunk({}, "stop"))
        else:
            args = json.dumps(plan[2])
            half = len(args) // 2
            events.append(chunk({"tool_calls": [{"index": 0, "id": call_id, "type": "function",
                                                 "function": {"name": plan[1], "arguments": ""}}]}))
            events += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
                       for piece in (args[:half], args[half:])]
            events.append(chunk({}, "tool_calls"))
        events.append({"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                       "system_fingerprint": "fp_bench", "choices": [], "usage": USAGE})
        events.append("[DONE]")

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for event in events:  # one write per event, as a streaming upstream sends them
                data = ("data: " + (event if isinstance(event, str) else json.dumps(event)) + "\n\n").encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--readme", required=True, help="absolute path the read tool call names")
    ap.add_argument("--marker", default="SESSION-BENCH-README-MARKER",
                    help="text a successful read's result contains")
    a = ap.parse_args()
    Handler.readme, Handler.marker = a.readme, a.marker
    srv = Server(("127.0.0.1", a.port), Handler)
    print(f"fake upstream listening on 127.0.0.1:{srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
