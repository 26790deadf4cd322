#!/usr/bin/env python3
"""A real HTTP(S) server on 127.0.0.1 for the checks' tests, started and stopped by the test.

Prints "PORT <n>" once it listens. Endpoints:
  /ok            200 "ok"
  /json          200 {"status": "UP", "checks": {"db": true}, "items": [{"id": 7}]}
  /status/<n>    answers with status n
  /slow?s=<sec>  waits, then 200
  /redirect      302 to /ok
  /redirect-to?url=<url>  302 to <url> (another origin, for the header rules)
  /big?n=<bytes> 200 with n bytes, sent without Content-Length (read until the server closes)
  /echo-header/<name>  200 with the value of request header <name> as the body
  /hook          webhook receiver: records each POST body to --record (one JSON per line);
                 answers 500 to the first --fail-first requests, 200 afterwards
"""
import argparse, http.server, json, ssl, sys, threading, time, urllib.parse

parser = argparse.ArgumentParser()
parser.add_argument("--cert")
parser.add_argument("--key")
parser.add_argument("--record")
parser.add_argument("--fail-first", type=int, default=0)
args = parser.parse_args()
lock = threading.Lock()
hook_requests = 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, body=b"", content_type="text/plain", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/ok":
            self.answer(200, b"ok")
        elif url.path == "/json":
            self.answer(200, json.dumps({"status": "UP", "checks": {"db": True}, "items": [{"id": 7}]}).encode(), "application/json")
        elif url.path.startswith("/status/"):
            self.answer(int(url.path.rsplit("/", 1)[1]), b"as you wish")
        elif url.path == "/slow":
            time.sleep(float(query.get("s", ["5"])[0]))
            self.answer(200, b"slow ok")
        elif url.path == "/redirect":
            self.answer(302, b"", headers=[("Location", "/ok")])
        elif url.path == "/redirect-to":
            self.answer(302, b"", headers=[("Location", query["url"][0])])
        elif url.path == "/big":
            # No Content-Length: the body ends when the connection does, as HTTP/1.0 servers do.
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"x" * int(query.get("n", ["0"])[0]))
            self.close_connection = True
        elif url.path.startswith("/echo-header/"):
            self.answer(200, (self.headers.get(url.path.rsplit("/", 1)[1]) or "").encode())
        else:
            self.answer(404, b"no such fixture")

    def do_POST(self):
        global hook_requests
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            hook_requests += 1
            failing = hook_requests <= args.fail_first
            if args.record:
                with open(args.record, "a") as f:
                    f.write(json.dumps({"status": 500 if failing else 200, "body": json.loads(body)}) + "\n")
        self.answer(500 if failing else 200, b"try again" if failing else b"thanks")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if args.cert:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
print(f"PORT {server.server_address[1]}", flush=True)
server.serve_forever()
