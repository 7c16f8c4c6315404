"""An independent NTLM / Negotiate acceptor for the Rust tests: pyspnego behind stdlib http.server.

Environment: NTLM_USER_FILE (DOMAIN:USER:PASSWORD lines), LM_COMPAT_LEVEL=5 (NTLMv2 only).
With TLS_CERT and TLS_KEY (PEM files) it serves https and requires channel bindings
(tls-server-end-point: SHA-256 of its certificate, RFC 5929), as IIS Extended Protection does;
CB_MISMATCH=1 makes it expect a wrong binding, so a test can show that bindings are really checked.
Prints the port it listens on (127.0.0.1) as the first line of stdout, then serves until killed.
Every path answers 401 offering "Negotiate" and "NTLM" until the connection is authenticated, then
200 with {"user": ..., "scheme": ...}. One spnego server context per TCP connection.
Pyramid's Windows login paths (.../authenticateUserWindows) answer with a token instead: plain-text
base64 naming the user, containing "+", "/" and "=" as real Pyramid tokens do.
"""

import base64
import hashlib
import http.server
import json
import os
import ssl
import sys

import spnego
from spnego.channel_bindings import GssChannelBindings

CHANNEL_BINDINGS = None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # else ~40 ms per response

    def setup(self):
        super().setup()
        self.ctx = None
        self.ctx_scheme = None
        self.user = None

    def log_message(self, format, *args):  # quiet
        pass

    def _send(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))  # on every response, 401s included
        self.end_headers()
        self.wfile.write(body)

    def _offers(self):
        self.ctx = None
        self._send(401, b"unauthorized", [("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "NTLM")])

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""  # drain the body on every leg
        auth = self.headers.get("Authorization")
        if not auth:
            if self.user:
                return self._ok("connection", body)
            return self._offers()
        scheme, _, data = auth.partition(" ")
        protocol = {"ntlm": "ntlm", "negotiate": "negotiate"}.get(scheme.lower())
        if protocol is None or not data:
            return self._offers()
        try:
            token = base64.b64decode(data.strip())
            if self.ctx is None or self.ctx_scheme != scheme or self.ctx.complete:
                self.ctx = spnego.server(protocol=protocol, channel_bindings=CHANNEL_BINDINGS)
                self.ctx_scheme = scheme
            out = self.ctx.step(token)
        except Exception as e:  # wrong password, unknown user, bad MIC, NTLMv1 ...
            sys.stderr.write(f"rejected: {type(e).__name__}: {e}\n")
            self.user = None
            return self._offers()
        headers = [("WWW-Authenticate", f"{scheme} {base64.b64encode(out).decode()}")] if out else []
        if not self.ctx.complete:
            return self._send(401, b"", headers)
        self.user = self.ctx.client_principal
        return self._ok(scheme, body, headers)

    def _ok(self, scheme, body, headers=()):
        if self.path.lower().rstrip("/").endswith("/authenticateuserwindows"):
            token = base64.b64encode(b"\xfb\xff\xbf" + self.user.encode() + b"!")
            return self._send(200, token, list(headers) + [("Content-Type", "text/plain; charset=utf-8")])
        payload = json.dumps({"user": self.user, "scheme": scheme, "method": self.command, "body_len": len(body)})
        self._send(200, payload.encode(), list(headers) + [("Content-Type", "application/json")])

    do_GET = _handle
    do_POST = _handle


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True


def main():
    global CHANNEL_BINDINGS
    server = Server(("127.0.0.1", 0), Handler)
    cert, key = os.environ.get("TLS_CERT"), os.environ.get("TLS_KEY")
    if cert and key:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.set_alpn_protocols(["http/1.1"])
        server.socket = context.wrap_socket(server.socket, server_side=True)
        with open(cert) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        digest = hashlib.sha256(der).digest()
        if os.environ.get("CB_MISMATCH") == "1":
            digest = bytes(32)
        CHANNEL_BINDINGS = GssChannelBindings(application_data=b"tls-server-end-point:" + digest)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
