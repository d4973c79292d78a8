#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""fake_ollama: a stand-in Ollama for peerwatch's tests only.

Speaks the parts of the real HTTP API the failover endpoint and its clients
(ollama-js, curl) use, in Ollama's own shapes: GET / /api/version /api/tags
/api/ps, POST /api/show /api/generate /api/chat /api/embed /api/embeddings
/api/pull, GET /v1/models, POST /v1/chat/completions (SSE). Streams are
chunked NDJSON flushed per line, ending in a done:true object.

Controllable at start (flags) and at run time (POST /_fake with a JSON
object of the same settings):
  models     installed model names        loaded   loaded model names
  busy       answer 503 "server busy"     hang     accept, never answer
  die_after  close the socket after N stream lines (mid-stream death)
  stall_after  send nothing more after N stream lines (stuck mid-stream)
  delay_ms   pause before each stream line (a slow backend)
  first_ms   pause before the first byte (a model load)
  tokens     stream lines before the final one
  exit       exit the process at once (a dead Ollama)
  sizes      {model: bytes} for /api/tags and /api/ps (else ~1 MB)
POST /api/blobs/sha256:HEX takes a blob (Content-Length or chunked),
checks its digest and answers 201 (400 on a mismatch), as Ollama does;
HEAD /api/blobs/DIGEST is 200 once it has it, else 404. "blob_bytes" in
GET /_fake is how much of the upload under way has arrived so far;
"blob_die_after" N makes it cut the connection after N bytes of one.
"last_request" shows the method, path, Content-Type and Content-Length
of the last POST or DELETE.
A generate with keep_alive 0 and no prompt unloads the model as Ollama
does (done_reason "unload", gone from /api/ps) and is recorded in the
list "unloads" ({"model", "keep_alive"}), which GET /_fake shows.
Every answer carries the header X-Fake-Name: NAME; streamed text too.
"""
import argparse
import hashlib
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {}
LOCK = threading.Lock()
WORDS = "The sky is blue because air scatters short waves more".split()


def norm(name):
    base = name.rsplit("/", 1)[-1]
    return name if ":" in base else name + ":latest"


def model_obj(name, loaded=False):
    o = {
        "name": name, "model": name,
        "modified_at": "2026-01-02T03:04:05.123456789Z",
        "size": STATE.get("sizes", {}).get(name, 1000000 + len(name)),
        "digest": "%064x" % abs(hash(name)),
        "details": {"parent_model": "", "format": "gguf", "family": "llama",
                    "families": ["llama"], "parameter_size": "1B",
                    "quantization_level": "Q4_K_M"},
    }
    if loaded:
        o["expires_at"] = "2026-01-02T03:09:05Z"
        o["size_vram"] = o["size"]
    return o


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-ollama"

    def log_message(self, fmt, *args):
        if STATE.get("verbose"):
            sys.stderr.write("fake_ollama %s: %s\n" % (STATE["name"], fmt % args))

    # --- plumbing ---------------------------------------------------------
    def body_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def send_json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Fake-Name", STATE["name"])
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def error(self, code, msg):
        self.send_json(code, {"error": msg})

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def die(self):
        # no terminating chunk: the reader sees a cut stream
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()
        self.close_connection = True

    def stream(self, ctype, lines, final):
        """lines: byte strings sent one per chunk; final sent last"""
        die_after = STATE.get("die_after")
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Fake-Name", STATE["name"])
        self.end_headers()
        for i, line in enumerate(lines):
            if die_after is not None and i >= die_after:
                self.die()
                return
            if STATE.get("stall_after") is not None and \
                    i >= STATE["stall_after"]:
                time.sleep(30)  # a backend stuck mid-answer
                self.die()
                return
            if STATE.get("delay_ms"):
                time.sleep(STATE["delay_ms"] / 1000.0)
            self.chunk(line)
        for f in final:
            self.chunk(f)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def pre(self):
        """common behaviours; False when the request was dealt with"""
        if STATE.get("hang"):
            while STATE.get("hang"):
                time.sleep(0.05)
            self.close_connection = True
            return False
        if STATE.get("first_ms"):
            time.sleep(STATE["first_ms"] / 1000.0)
        if STATE.get("busy"):
            self.error(503, "server busy, please try again.  maximum "
                       "pending requests exceeded")
            return False
        return True

    def need_model(self, req):
        name = req.get("model") or req.get("name") or ""
        if not name:
            self.error(400, "model is required")
            return None
        if norm(name) not in STATE["models"]:
            self.error(404, "model \"%s\" not found, try pulling it first"
                       % name)
            return None
        return name

    # --- routes -----------------------------------------------------------
    def do_HEAD(self):
        if self.path.startswith("/api/blobs/"):
            known = self.path[len("/api/blobs/"):] in STATE["blobs"]
            self.send_response(200 if known else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.do_GET()

    def body_pieces(self):
        """the request body as it arrives, Content-Length or chunked"""
        if "chunked" in (self.headers.get("Transfer-Encoding") or ""):
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left > 0:
                    piece = self.rfile.read(min(left, 65536))
                    if not piece:
                        return
                    left -= len(piece)
                    yield piece
                self.rfile.readline()
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            piece = self.rfile.read1(min(left, 65536))
            if not piece:
                return
            left -= len(piece)
            yield piece

    def blob_upload(self, digest):
        h = hashlib.sha256()
        with LOCK:
            STATE["blob_bytes"] = 0
        for piece in self.body_pieces():
            h.update(piece)
            with LOCK:
                STATE["blob_bytes"] += len(piece)
                cut = STATE.get("blob_die_after") is not None and \
                    STATE["blob_bytes"] >= STATE["blob_die_after"]
            if cut:
                return self.die()
        if digest.replace("-", ":", 1) != "sha256:" + h.hexdigest():
            return self.error(400, "digest mismatch, expected \"%s\", got "
                              "\"sha256:%s\"" % (digest, h.hexdigest()))
        with LOCK:
            STATE["blobs"].append(digest)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.send_header("X-Fake-Name", STATE["name"])
        self.end_headers()

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/":
            data = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            return
        if not self.pre():
            return
        if path == "/api/version":
            self.send_json(200, {"version": "0.12.0"})
        elif path == "/api/tags":
            self.send_json(200, {"models": [model_obj(m)
                                            for m in STATE["models"]]})
        elif path == "/api/ps":
            self.send_json(200, {"models": [model_obj(m, True)
                                            for m in STATE["loaded"]]})
        elif path == "/v1/models":
            self.send_json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 1715000000,
                 "owned_by": "library"} for m in STATE["models"]]})
        elif path == "/_fake":
            self.send_json(200, {k: v for k, v in STATE.items()})
        else:
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "18")
            self.end_headers()
            self.wfile.write(b"404 page not found")

    def seen(self):
        """what GET /_fake shows as last_request"""
        with LOCK:
            STATE["last_request"] = {
                "method": self.command, "path": self.path,
                "content_type": self.headers.get("Content-Type"),
                "content_length": self.headers.get("Content-Length")}

    def do_DELETE(self):
        self.seen()
        req = self.body_json()
        if req is None:
            return self.error(400, "invalid JSON")
        if self.need_model(req):
            self.send_json(200, {})

    def do_POST(self):
        path = self.path.split("?")[0]
        if path.startswith("/api/blobs/"):
            return self.blob_upload(path[len("/api/blobs/"):])
        if path != "/_fake":
            self.seen()
        req = self.body_json()
        if path == "/_fake":
            with LOCK:
                for k, v in (req or {}).items():
                    if k in ("models", "loaded"):
                        v = [norm(m) for m in v]
                    elif k == "sizes":
                        v = {norm(m): n for m, n in v.items()}
                    STATE[k] = v
            self.send_json(200, {"ok": True})
            if STATE.get("exit"):
                os._exit(0)
            return
        if req is None:
            return self.error(400, "invalid character in JSON body")
        if not self.pre():
            return
        routes = {
            "/api/generate": self.generate, "/api/chat": self.chat,
            "/api/embed": self.embed, "/api/embeddings": self.embeddings,
            "/api/show": self.show, "/api/pull": self.pull,
            "/v1/chat/completions": self.openai_chat,
        }
        fn = routes.get(path)
        if fn is None:
            return self.error(404, "404 page not found")
        fn(req)

    def tokens(self):
        n = int(STATE.get("tokens", 8))
        return [WORDS[i % len(WORDS)] + " " for i in range(n)]

    def stats(self):
        return {"total_duration": 1234567, "load_duration": 1000,
                "prompt_eval_count": 3, "prompt_eval_duration": 2000,
                "eval_count": int(STATE.get("tokens", 8)),
                "eval_duration": 900000}

    def generate(self, req):
        model = self.need_model(req)
        if not model:
            return
        if req.get("keep_alive") in (0, "0", "0s") and not req.get("prompt"):
            with LOCK:
                STATE["unloads"].append({"model": model,
                                         "keep_alive": req["keep_alive"]})
                STATE["loaded"] = [m for m in STATE["loaded"]
                                   if m != norm(model)]
            return self.send_json(200, {
                "model": model, "created_at": now_iso(), "response": "",
                "done": True, "done_reason": "unload"})
        toks = self.tokens()
        base = {"model": model, "created_at": now_iso()}
        final = dict(base, response="", done=True, done_reason="stop",
                     context=[1, 2, 3], backend=STATE["name"], **self.stats())
        if req.get("stream", True) is False:
            final["response"] = "".join(toks)
            return self.send_json(200, final)
        lines = [(json.dumps(dict(base, response=t, done=False)) + "\n")
                 .encode() for t in toks]
        self.stream("application/x-ndjson", lines,
                    [(json.dumps(final) + "\n").encode()])

    def chat(self, req):
        model = self.need_model(req)
        if not model:
            return
        toks = self.tokens()
        base = {"model": model, "created_at": now_iso()}
        final = dict(base, message={"role": "assistant", "content": ""},
                     done=True, done_reason="stop", backend=STATE["name"],
                     **self.stats())
        if req.get("stream", True) is False:
            final["message"]["content"] = "".join(toks)
            return self.send_json(200, final)
        lines = [(json.dumps(dict(base, message={
            "role": "assistant", "content": t}, done=False)) + "\n").encode()
            for t in toks]
        self.stream("application/x-ndjson", lines,
                    [(json.dumps(final) + "\n").encode()])

    def embed(self, req):
        model = self.need_model(req)
        if not model:
            return
        inp = req.get("input", "")
        inputs = inp if isinstance(inp, list) else [inp]
        self.send_json(200, {"model": model, "embeddings": [
            [0.1, 0.2, float(len(s))] for s in inputs],
            "total_duration": 1000, "load_duration": 10,
            "prompt_eval_count": len(inputs)})

    def embeddings(self, req):
        if self.need_model(req):
            self.send_json(200, {"embedding": [0.1, 0.2, 0.3]})

    def show(self, req):
        model = self.need_model(req)
        if model:
            self.send_json(200, {
                "modelfile": "FROM %s" % model, "parameters": "",
                "template": "{{ .Prompt }}",
                "details": model_obj(model)["details"],
                "model_info": {"general.architecture": "llama"},
                "capabilities": ["completion"]})

    def pull(self, req):
        name = req.get("model") or req.get("name") or ""
        if req.get("stream", True) is False:
            return self.send_json(200, {"status": "success"})
        lines = [(json.dumps({"status": s}) + "\n").encode() for s in
                 ("pulling manifest", "verifying sha256 digest",
                  "writing manifest")]
        self.stream("application/x-ndjson", lines,
                    [(json.dumps({"status": "success"}) + "\n").encode()])
        with LOCK:
            if name and norm(name) not in STATE["models"]:
                STATE["models"].append(norm(name))

    def openai_chat(self, req):
        name = req.get("model", "")
        if norm(name) not in STATE["models"]:
            return self.send_json(404, {"error": {
                "message": "model \"%s\" not found, try pulling it first"
                % name, "type": "not_found_error", "param": None,
                "code": None}})
        toks = self.tokens()
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": name,
                "system_fingerprint": "fp_ollama"}
        if not req.get("stream"):
            return self.send_json(200, dict(
                base, object="chat.completion", choices=[{
                    "index": 0, "message": {"role": "assistant",
                                            "content": "".join(toks)},
                    "finish_reason": "stop"}],
                usage={"prompt_tokens": 3, "completion_tokens": len(toks),
                       "total_tokens": 3 + len(toks)}))
        lines = [("data: " + json.dumps(dict(base, choices=[{
            "index": 0, "delta": {"role": "assistant", "content": t},
            "finish_reason": None}])) + "\n\n").encode() for t in toks]
        fin = ("data: " + json.dumps(dict(base, choices=[{
            "index": 0, "delta": {"role": "assistant", "content": ""},
            "finish_reason": "stop"}])) + "\n\n").encode()
        self.stream("text/event-stream", lines, [fin, b"data: [DONE]\n\n"])


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=11434)
    ap.add_argument("--name", default="fake")
    ap.add_argument("--models", default="tiny")
    ap.add_argument("--loaded", default="")
    ap.add_argument("--tokens", type=int, default=8)
    ap.add_argument("--sizes", default="",
                    help="MODEL=BYTES,... for /api/tags and /api/ps")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    STATE.update(name=a.name, tokens=a.tokens, verbose=a.verbose,
                 models=[norm(m) for m in a.models.split(",") if m],
                 loaded=[norm(m) for m in a.loaded.split(",") if m],
                 sizes={norm(kv.split("=")[0]): int(kv.split("=")[1])
                        for kv in a.sizes.split(",") if kv},
                 unloads=[], blobs=[], blob_bytes=0)
    srv = Server((a.host, a.port), Handler)
    sys.stderr.write("fake_ollama %s listening on %s:%d\n"
                     % (a.name, a.host, a.port))
    sys.stderr.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
