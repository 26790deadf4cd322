#!/usr/bin/env python3
"""A webhook receiver on 127.0.0.1 for the alert tests, started and stopped by the test.

Prints "PORT <n>" once it listens. Every POST is recorded to --record as one JSON line
{"path", "status", "body"} before it is answered:
  /fail/<n>/...  answers 500 to the first n requests on this path, then 200
  /hang/...      records the request, then never answers (a receiver that is down)
  anything else  200
"""
import argparse, http.server, json, threading, time

parser = argparse.ArgumentParser()
parser.add_argument("--record", required=True)
args = parser.parse_args()
lock = threading.Lock()
seen = {}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        status = 200
        with lock:
            seen[self.path] = seen.get(self.path, 0) + 1
            if self.path.startswith("/fail/"):
                status = 500 if seen[self.path] <= int(self.path.split("/")[2]) else 200
            hang = self.path.startswith("/hang/")
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = body.decode("utf-8", "replace")
            with open(args.record, "a") as record:
                record.write(json.dumps({"path": self.path, "status": 0 if hang else status, "body": parsed}) + "\n")
        if hang:
            while True:
                time.sleep(3600)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print("PORT", server.server_address[1], flush=True)
server.serve_forever()
