"""An independent Negotiate acceptor for the Rust tests, taking Kerberos and NTLM on one endpoint as IIS does.

Kerberos (SPNEGO or raw) goes to the system GSS-API through Debian's python3-gssapi, which checks the
ticket with the service keytab named by KRB5_KTNAME (and the realm in KRB5_CONFIG). NTLM (the `NTLM`
scheme, or NTLMSSP inside Negotiate) goes to pyspnego with the users of NTLM_USER_FILE, NTLMv2 only.
Run it with Debian's /usr/bin/python3 and pyspnego on PYTHONPATH.

Prints the port it listens on (127.0.0.1) as the first line of stdout, then serves until killed.
Every path answers 401 offering "Negotiate" and "NTLM" (OFFER=negotiate: "Negotiate" only; OFFER=ntlm:
"NTLM" only) until the connection is authenticated, then 200 with
{"user": ..., "mechanism": "kerberos" | "ntlm", "scheme": ...}; the connection stays authenticated.
Kerberos answers carry the acceptor's final token (mutual authentication). With TLS_CERT and TLS_KEY it
serves https and checks Kerberos channel bindings (tls-server-end-point, SHA-256 of its certificate);
CB_MISMATCH=1 makes it expect a wrong binding, so a test can show the bindings are really checked.
FORGE_FINAL=1 spoils the final Kerberos token, so a test can show mutual authentication is checked. Pyramid's Windows login paths
(.../authenticateUserWindows) answer with a token naming the user instead. GET /_stats answers (without
authentication) how many handshakes of each mechanism succeeded, how many were refused, and how many
connections were opened.
"""

import base64
import hashlib
import http.server
import json
import os
import ssl
import sys
import threading

import gssapi

CHANNEL_BINDINGS = None  # Kerberos channel bindings over https (tls-server-end-point, RFC 5929)
STATS = {"kerberos": 0, "ntlm": 0, "refused": 0, "connections": 0}
STATS_LOCK = threading.Lock()
OFFER = os.environ.get("OFFER", "both")


def count(key):
    with STATS_LOCK:
        STATS[key] += 1


def is_ntlm(token):
    # NTLMSSP is the message itself or the mechToken inside SPNEGO; a Kerberos AP-REQ never holds it.
    return b"NTLMSSP\x00" in token


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        count("connections")
        self.ctx = None
        self.kind = None
        self.user = None
        self.mechanism = None

    def log_message(self, format, *args):  # quiet
        pass

    def _send(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _offers(self):
        self.ctx = None
        offers = {"both": ["Negotiate", "NTLM"], "negotiate": ["Negotiate"], "ntlm": ["NTLM"]}[OFFER]
        self._send(401, b"unauthorized", [("WWW-Authenticate", o) for o in offers])

    def _refuse(self, why):
        sys.stderr.write(f"negotiate_acceptor: refused: {why}\n")
        count("refused")
        self.user = None
        self._offers()

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/_stats":
            with STATS_LOCK:
                payload = json.dumps(STATS).encode()
            return self._send(200, payload, [("Content-Type", "application/json")])
        auth = self.headers.get("Authorization")
        if not auth:
            if self.user:
                return self._ok("connection", body)
            return self._offers()
        scheme, _, data = auth.partition(" ")
        if scheme.lower() not in ("ntlm", "negotiate") or not data:
            return self._offers()
        if OFFER == "ntlm" and scheme.lower() != "ntlm" or OFFER == "negotiate" and scheme.lower() != "negotiate":
            return self._offers()
        try:
            token = base64.b64decode(data.strip())
        except ValueError:
            return self._refuse("bad base64")
        try:
            if scheme.lower() == "negotiate" and not is_ntlm(token) and (self.ctx is None or self.kind != "kerberos"):
                # A new Kerberos exchange: the default acceptor credential, from KRB5_KTNAME.
                self.ctx = gssapi.SecurityContext(usage="accept", channel_bindings=CHANNEL_BINDINGS)
                self.kind = "kerberos"
            elif self.ctx is None or self.kind == "kerberos" or self.ctx.complete:
                import spnego  # only when NTLM comes: the Kerberos-only runs start faster without it

                protocol = "ntlm" if scheme.lower() == "ntlm" else "negotiate"
                self.ctx = spnego.server(protocol=protocol)
                self.kind = "ntlm"
            out = self.ctx.step(token)
        except Exception as e:  # a bad ticket, a replayed authenticator, a wrong password, a bad MIC ...
            return self._refuse(f"{type(e).__name__}: {e}")
        headers = [("WWW-Authenticate", f"{scheme} {base64.b64encode(out).decode()}")] if out else []
        try:
            complete = self.ctx.complete
        except Exception as e:  # python-gssapi hands out the error token first and raises here
            sys.stderr.write(f"negotiate_acceptor: refused: {type(e).__name__}: {e}\n")
            count("refused")
            self.user = None
            self.ctx = None
            # As servers on MIT krb5 do: the error token (SPNEGO reject around a KRB-ERROR) with the 401.
            return self._send(401, b"unauthorized", headers or [("WWW-Authenticate", scheme)])
        if not complete:
            return self._send(401, b"", headers)
        if self.kind == "kerberos":
            self.user = str(self.ctx.initiator_name)
            if os.environ.get("FORGE_FINAL") == "1" and headers:
                # A final token the client cannot verify, as from a server without the service key.
                forged = bytearray(out)
                forged[-8:] = bytes(8)
                headers = [("WWW-Authenticate", f"{scheme} {base64.b64encode(bytes(forged)).decode()}")]
        else:
            self.user = self.ctx.client_principal
        self.mechanism = self.kind
        count(self.kind)
        self.ctx = None
        return self._ok(scheme, body, headers)

    def _ok(self, scheme, body, headers=()):
        if self.path.lower().rstrip("/").endswith("/authenticateuserwindows"):
            token = base64.b64encode(b"\xfb\xff\xbf" + self.user.encode() + b"!")
            return self._send(200, token, list(headers) + [("Content-Type", "text/plain; charset=utf-8")])
        payload = json.dumps(
            {"user": self.user, "mechanism": self.mechanism, "scheme": scheme, "method": self.command, "body_len": len(body)}
        )
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
            digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).digest()
        if os.environ.get("CB_MISMATCH") == "1":
            digest = bytes(32)
        CHANNEL_BINDINGS = gssapi.raw.ChannelBindings(application_data=b"tls-server-end-point:" + digest)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
