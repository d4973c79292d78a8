#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""fake_telegram: a stand-in Telegram Bot API for peerwatch's tests only.

Answers POST/GET /bot<TOKEN>/sendMessage and /bot<TOKEN>/getMe with the
real envelope ({"ok":true,"result":...} or {"ok":false,"error_code",
"description","parameters"}). A wrong token gets 401 "Unauthorized", a
text over 4096 UTF-16 code units 400 "Bad Request: message is too long",
a missing chat_id or text 400.

Each accepted message is appended to --messages as one JSON line
{"n","t","chat_id","text"} (t: seconds since the epoch, float); every
request (accepted or not) to --attempts as {"t","mode","http"}. Neither
file ever holds the token.

Modes (--mode at start; POST /_fake {"mode":..., ...} at run time):
  ok        200 and the message
  429       429 with parameters.retry_after (--retry-after, default 2)
  500       500 Internal Server Error (JSON envelope)
  400       400 "Bad Request: chat not found"
  401       401 "Unauthorized" (as for a wrong or revoked token)
  hang      read the request, never answer
  then      after `count` answers in the current mode, switch to `then`
            (e.g. {"mode":"429","count":1,"then":"ok"})
"""
import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"mode": "ok", "retry_after": 2, "count": None, "then": None, "n": 0}
LOCK = threading.Lock()
ARGS = None


def utf16_len(s):
    return len(s.encode("utf-16-le")) // 2


def record(path, obj):
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(obj, ensure_ascii=False) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-telegram"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def fail(self, code, desc, params=None):
        o = {"ok": False, "error_code": code, "description": desc}
        if params:
            o["parameters"] = params
        self.reply(code, o)

    def params(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return {}
        ctype = self.headers.get("Content-Type", "")
        # /_fake takes JSON whatever curl -d says it is
        if "json" in ctype or self.path == "/_fake":
            return json.loads(raw)
        from urllib.parse import parse_qs
        return {k: v[0] for k, v in parse_qs(raw.decode()).items()}

    def do_GET(self):
        self.do_POST()

    def control(self):
        o = self.params()
        with LOCK:
            for k in ("mode", "retry_after", "count", "then"):
                if k in o:
                    STATE[k] = o[k]
        self.reply(200, {"ok": True, "result": dict(STATE)})

    # the mode for this request, counting down `count`
    def take_mode(self):
        with LOCK:
            mode = STATE["mode"]
            if STATE["count"] is not None:
                STATE["count"] -= 1
                if STATE["count"] <= 0:
                    STATE["mode"] = STATE["then"] or "ok"
                    STATE["count"] = None
            return mode

    def do_POST(self):
        if self.path == "/_fake":
            return self.control()
        parts = self.path.split("?")[0].split("/")
        # "", "bot<TOKEN>", "method"
        if len(parts) != 3 or not parts[1].startswith("bot"):
            return self.fail(404, "Not Found")
        try:
            p = self.params()
        except ValueError:
            return self.fail(400, "Bad Request: can't parse JSON")
        mode = self.take_mode()
        code = {"ok": 200, "429": 429, "500": 500, "400": 400, "401": 401,
                "hang": 0}.get(mode, 200)
        record(ARGS.attempts, {"t": time.time(), "mode": mode, "http": code})
        if mode == "hang":
            time.sleep(3600)
            return
        if parts[1][3:] != ARGS.token or mode == "401":
            return self.fail(401, "Unauthorized")
        if mode == "400":
            return self.fail(400, "Bad Request: chat not found")
        if mode == "429":
            ra = int(STATE["retry_after"])
            return self.fail(429, "Too Many Requests: retry after %d" % ra,
                             {"retry_after": ra})
        if mode == "500":
            return self.fail(500, "Internal Server Error")
        method = parts[2].lower()
        if method == "getme":
            return self.reply(200, {"ok": True, "result": {
                "id": 1, "is_bot": True, "first_name": "fake",
                "username": "fake_bot"}})
        if method != "sendmessage":
            return self.fail(404, "Not Found: method not found")
        text, chat = p.get("text"), p.get("chat_id")
        if chat is None or chat == "":
            return self.fail(400, "Bad Request: chat_id is empty")
        if not text:
            return self.fail(400, "Bad Request: message text is empty")
        if utf16_len(text) > 4096:
            return self.fail(400, "Bad Request: message is too long")
        with LOCK:
            STATE["n"] += 1
            n = STATE["n"]
        record(ARGS.messages, {"n": n, "t": time.time(), "chat_id": chat,
                               "text": text})
        self.reply(200, {"ok": True, "result": {
            "message_id": n,
            "from": {"id": 1, "is_bot": True, "first_name": "fake",
                     "username": "fake_bot"},
            "chat": {"id": chat, "type": "private"},
            "date": int(time.time()), "text": text}})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--messages", required=True)
    ap.add_argument("--attempts", required=True)
    ap.add_argument("--mode", default="ok")
    ap.add_argument("--retry-after", type=int, default=2)
    ARGS = ap.parse_args()
    with open(ARGS.token_file, encoding="ascii") as f:
        ARGS.token = f.readline().strip()
    STATE["mode"] = ARGS.mode
    STATE["retry_after"] = ARGS.retry_after
    srv = Server((ARGS.host, ARGS.port), Handler)
    sys.stderr.write("fake_telegram on %s:%d\n" % (ARGS.host, ARGS.port))
    sys.stderr.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
