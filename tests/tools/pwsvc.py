#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""pwsvc: a small real HTTP service for the local-watch tests.

  pwsvc.py start DIR ADDR:PORT    start it detached (its pid in DIR/pid)
  pwsvc.py restart DIR ADDR:PORT  kill the running one (DIR/pid), start
                                  anew, mode back to "ok": what a
                                  service's `restart =` runs
  pwsvc.py serve DIR ADDR:PORT    serve in the foreground

Every GET answers by the mode in DIR/mode, read per request:
  ok    200          hang  accept, never answer (the probe times out)
  503   503          flap  200 and 503 in turn
Each request is counted in DIR/hits; each start's pid appended to
DIR/starts (the test kills them all by pid when it ends). ADDR must be a
loopback address.
"""
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FLAP = [0]
LOCK = threading.Lock()


def mode(d):
    try:
        with open(os.path.join(d, "mode")) as f:
            return f.read().strip() or "ok"
    except OSError:
        return "ok"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        d = self.server.dir
        m = mode(d)
        with LOCK:
            FLAP[0] += 1
            n = FLAP[0]
        with open(os.path.join(d, "hits"), "a") as f:
            f.write("%s\n" % m)
        if m == "hang":
            time.sleep(3600)
            return
        code = 200
        if m == "503" or (m == "flap" and n % 2 == 0):
            code = 503
        body = b"ok\n" if code == 200 else b"busy\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(d, addr):
    host, port = addr.rsplit(":", 1)
    if not host.startswith("127."):
        sys.exit("pwsvc: %s is not a loopback address" % host)
    srv = ThreadingHTTPServer((host, int(port)), Handler)
    srv.daemon_threads = True
    srv.dir = d
    with open(os.path.join(d, "pid.tmp"), "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(os.path.join(d, "pid.tmp"), os.path.join(d, "pid"))
    with open(os.path.join(d, "starts"), "a") as f:
        f.write("%d\n" % os.getpid())
    srv.serve_forever()


def kill_old(d):
    try:
        with open(os.path.join(d, "pid")) as f:
            pid = int(f.read())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        return
    for _ in range(100):  # bounded: 5 s
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.05)


def start(d, addr):
    """double fork: the caller (a restart command) returns at once"""
    if os.fork() > 0:
        os.wait()
        return
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    fd = os.open(os.path.join(d, "log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    try:
        serve(d, addr)
    finally:
        os._exit(1)


def main():
    if len(sys.argv) != 4:
        sys.stderr.write(__doc__)
        sys.exit(2)
    cmd, d, addr = sys.argv[1], sys.argv[2], sys.argv[3]
    if cmd == "serve":
        serve(d, addr)
    elif cmd == "start":
        start(d, addr)
    elif cmd == "restart":
        kill_old(d)
        with open(os.path.join(d, "mode"), "w") as f:
            f.write("ok\n")
        start(d, addr)
        print("pwsvc restarted on %s" % addr)
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
