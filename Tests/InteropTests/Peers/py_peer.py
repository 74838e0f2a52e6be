#!/usr/bin/env python3
"""A TLS peer on Python's ssl module, for the swift-openssl interop matrix.

Server: listens on 127.0.0.1 (port 0 unless --port), accepts --connections
connections one after another and echoes each one. Client: connects, sends
what it reads from stdin, writes what comes back to stdout.

Everything the peer observes is reported on stderr, one JSON object a line:
  {"event": "listening", "port": N}
  {"event": "handshake", "version": ..., "cipher": ..., "alpn": ..., "sni": ...,
   "reused": bool, "peer_subject": ...}
  {"event": "closed", "how": "close_notify" | "eof" | "reset" | "local"}
  {"event": "error", "type": ..., "message": ..., "verify_code": N}
The exit status is 0 when no error event was reported.
"""

import argparse
import json
import select
import socket
import ssl
import sys
import time

VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def report(event, **fields):
    fields["event"] = event
    sys.stderr.write(json.dumps(fields) + "\n")
    sys.stderr.flush()


def report_error(error):
    fields = {"type": type(error).__name__, "message": str(error)}
    code = getattr(error, "verify_code", None)
    if code is not None:
        fields["verify_code"] = code
    report("error", **fields)


def is_unexpected_eof(error):
    """A peer that hung up without close_notify (SSLEOFError, or OpenSSL 3's
    UNEXPECTED_EOF_WHILE_READING once OP_IGNORE_UNEXPECTED_EOF is off)."""
    return isinstance(error, ssl.SSLEOFError) or getattr(error, "reason", None) == "UNEXPECTED_EOF_WHILE_READING"


def subject_text(der):
    """The subject's commonName of a DER certificate (getpeercert() gives only
    DER when the peer was not validated). In the test certificates the
    subject follows the issuer, so the last commonName is the subject's."""
    if not der:
        return None
    oid = b"\x06\x03\x55\x04\x03"
    index = der.rfind(oid)
    if index < 0:
        return None
    length = der[index + len(oid) + 1]
    start = index + len(oid) + 2
    return der[start:start + length].decode("utf-8", "replace")


def describe(sock, sni=None):
    report("handshake", version=sock.version(), cipher=sock.cipher()[0],
           alpn=sock.selected_alpn_protocol(), sni=sni, reused=sock.session_reused,
           peer_subject=subject_text(sock.getpeercert(binary_form=True)))


def make_context(args, server):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    # Python sets OP_IGNORE_UNEXPECTED_EOF, which makes a hang-up look like
    # close_notify; this peer must tell the two apart.
    context.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    if args.min_version:
        context.minimum_version = VERSIONS[args.min_version]
    if args.max_version:
        context.maximum_version = VERSIONS[args.max_version]
    if args.cert:
        context.load_cert_chain(args.cert, args.key)
    if args.ca:
        context.load_verify_locations(args.ca)
    if server:
        context.verify_mode = ssl.CERT_REQUIRED if args.require_client_cert else ssl.CERT_NONE
    else:
        context.check_hostname = args.server_name is not None and not args.no_hostname_check
        context.verify_mode = ssl.CERT_REQUIRED
    if args.alpn:
        context.set_alpn_protocols(args.alpn.split(","))
    return context


def pump(sock, outgoing, expect, deadline):
    """Sends `outgoing` while receiving up to `expect` bytes (non-blocking both ways)."""
    sock.setblocking(False)
    received = bytearray()
    sent = 0
    while sent < len(outgoing) or len(received) < expect:
        if time.monotonic() > deadline:
            raise TimeoutError("pump timed out: sent %d/%d, received %d/%d"
                               % (sent, len(outgoing), len(received), expect))
        progressed = False
        if sent < len(outgoing):
            try:
                sent += sock.send(outgoing[sent:sent + 16384])
                progressed = True
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                pass
        if len(received) < expect:
            try:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionAbortedError("peer closed after %d of %d bytes" % (len(received), expect))
                received += chunk
                progressed = True
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                pass
        if not progressed:
            writing = [sock] if sent < len(outgoing) else []
            select.select([sock], writing, [], 0.05)
    sock.setblocking(True)
    return bytes(received)


def wait_for_close(sock, deadline):
    """Reads until the peer closes; reports how. Returns the bytes read before."""
    data = bytearray()
    sock.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                report("closed", how="close_notify")
                return bytes(data), "close_notify"
            data += chunk
    except ssl.SSLZeroReturnError:
        report("closed", how="close_notify")
        return bytes(data), "close_notify"
    except (ConnectionResetError, BrokenPipeError):
        report("closed", how="reset")
        return bytes(data), "reset"
    except ssl.SSLError as error:
        if not is_unexpected_eof(error):
            raise
        report("closed", how="eof")
        return bytes(data), "eof"


def serve(args):
    context = make_context(args, server=True)
    seen = {}
    if args.sni_cert:
        alternative = make_context(args, server=True)
        alternative.load_cert_chain(args.sni_cert, args.sni_key)

        def choose(sock, name, _context):
            seen["sni"] = name
            if name == args.sni_name:
                sock.context = alternative
        context.sni_callback = choose
    else:
        def record(_sock, name, _context):
            seen["sni"] = name
        context.sni_callback = record
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(8)
    report("listening", port=listener.getsockname()[1])
    failed = False
    for _ in range(args.connections):
        listener.settimeout(args.timeout)
        raw, _address = listener.accept()
        raw.settimeout(args.timeout)
        seen.clear()
        try:
            sock = context.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False)
        except (ssl.SSLError, OSError) as error:
            report_error(error)
            raw.close()
            failed = True
            continue
        describe(sock, seen.get("sni"))
        deadline = time.monotonic() + args.timeout
        try:
            echoed = 0
            sock.settimeout(args.timeout)
            while True:
                if args.close_after is not None and echoed >= args.close_after:
                    if args.abrupt:
                        raw_socket = sock.detach() if hasattr(sock, "detach") else sock
                        raw_socket.close()
                        report("closed", how="local")
                    else:
                        sock.unwrap()
                        report("closed", how="local")
                        sock.close()
                    break
                try:
                    chunk = sock.recv(65536)
                except ssl.SSLError as error:
                    if not is_unexpected_eof(error):
                        raise
                    report("closed", how="eof")
                    sock.close()
                    break
                if not chunk:
                    report("closed", how="close_notify")
                    try:
                        sock.unwrap()
                    except (ssl.SSLError, OSError):
                        pass
                    sock.close()
                    break
                sock.sendall(chunk)
                echoed += len(chunk)
                if time.monotonic() > deadline:
                    raise TimeoutError("echo timed out")
        except (ssl.SSLError, OSError) as error:
            if isinstance(error, ConnectionResetError):
                report("closed", how="reset")
            else:
                report_error(error)
                failed = True
            sock.close()
    listener.close()
    return 1 if failed else 0


def connect_once(args, context, session=None):
    raw = socket.create_connection((args.host, args.port), timeout=args.timeout)
    sock = context.wrap_socket(raw, server_hostname=args.server_name, session=session,
                                suppress_ragged_eofs=False)
    describe(sock, args.server_name)
    return sock


def client(args):
    context = make_context(args, server=False)
    payload = sys.stdin.buffer.read(args.send) if args.send else b""
    deadline = time.monotonic() + args.timeout
    try:
        sock = connect_once(args, context)
        received = pump(sock, payload, len(payload), deadline)
        sys.stdout.buffer.write(received)
        sys.stdout.buffer.flush()
        if args.resume:
            # TLS 1.3 tickets arrive after the handshake; the echo above has read them.
            session = sock.session
            sock.unwrap()
            sock.close()
            sock = connect_once(args, context, session=session)
            received = pump(sock, payload, len(payload), deadline)
            sys.stdout.buffer.write(received)
            sys.stdout.buffer.flush()
        if args.then == "close":
            sock.unwrap()
            report("closed", how="local")
            sock.close()
        elif args.then == "abrupt":
            sock.detach().close() if hasattr(sock, "detach") else sock.close()
            report("closed", how="local")
        else:  # wait for the server to close
            _, how = wait_for_close(sock, deadline)
            if how == "close_notify":
                try:
                    sock.unwrap()
                except (ssl.SSLError, OSError):
                    pass
            sock.close()
    except (ssl.SSLError, OSError, TimeoutError) as error:
        report_error(error)
        return 1
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["server", "client"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--ca")
    parser.add_argument("--require-client-cert", action="store_true")
    parser.add_argument("--alpn")
    parser.add_argument("--sni-name")
    parser.add_argument("--sni-cert")
    parser.add_argument("--sni-key")
    parser.add_argument("--server-name")
    parser.add_argument("--no-hostname-check", action="store_true")
    parser.add_argument("--min-version", choices=sorted(VERSIONS))
    parser.add_argument("--max-version", choices=sorted(VERSIONS))
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--close-after", type=int, help="server: close after echoing this many bytes")
    parser.add_argument("--abrupt", action="store_true", help="server: close without close_notify")
    parser.add_argument("--send", type=int, default=0, help="client: bytes to read from stdin and send")
    parser.add_argument("--resume", action="store_true", help="client: connect again resuming the session")
    parser.add_argument("--then", choices=["close", "abrupt", "wait"], default="wait")
    parser.add_argument("--timeout", type=float, default=15.0)
    args = parser.parse_args()
    return serve(args) if args.role == "server" else client(args)


if __name__ == "__main__":
    sys.exit(main())
