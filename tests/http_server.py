"""A real HTTP server on 127.0.0.1 for download tests: serves one file, honours Range, can drop connections."""

from __future__ import annotations

import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FileServer:
    """Serves `content` at every path. `cuts` lists, request by request, how many bytes to send before
    dropping the connection (None: send all). Every request's Range header is recorded in `ranges`."""

    def __init__(self, content: bytes, cuts: list[int | None] | None = None, honour_range: bool = True,
                 pace_s: float = 0.0):
        self.content = content
        self.pace_s = pace_s  # a pause after each 64 KiB: a slow line, so a download can be caught mid-way
        self.honour_range = honour_range
        self.cuts = list(cuts or [])
        self.ranges: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                header = self.headers.get("Range")
                server.ranges.append(header)
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", header or "") if server.honour_range else None
                if match:
                    start = int(match.group(1))
                    if start >= len(server.content):
                        self.send_response(416)
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(server.content) - 1}/{len(server.content)}")
                else:
                    self.send_response(200)
                body = server.content[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = server.cuts.pop(0) if server.cuts else None
                if cut is None and server.pace_s:
                    try:
                        for start_at in range(0, len(body), 1 << 16):
                            self.wfile.write(body[start_at:start_at + (1 << 16)])
                            time.sleep(server.pace_s)
                    except OSError:
                        pass  # the client hung up (a cancelled download)
                    return
                if cut is None:
                    self.wfile.write(body)
                    return
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)  # the connection drops mid-file
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address
        return f"http://{host}:{port}/model.pt"

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connecting is refused at once, as when offline."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/model.pt"
