#!/usr/bin/env python3
"""Captures real bytes from OTP for the fuzz seed corpora.

Usage: python3 fuzz/seeds/capture.py OUTDIR

Writes OUTDIR/<target>/<name> files:
* epmd_server: the EPMD requests a real `erl` and the real `epmd` CLI send
  (caught by a fake EPMD), each behind a control byte (see
  erlnode::fuzzing::epmd_server), and sequences of them;
* handshake_acceptor: the messages a real `erl` sends when it dials us
  (send_name, challenge reply), 2-byte framed, behind an options byte;
* handshake_initiator: the messages a real `erl` sends when we dial it
  (status, challenge, challenge ack), behind an options byte;
* dist_frame: the pass-through frames a real `erl` sends once connected;
* dist_header: the packet stream (`Len:u32` frames) a real `erl` sends once
  connected with DIST_HDR_ATOM_CACHE and FRAGMENTS (atom cache headers),
  and its small packets one by one.

Everything started here is killed at the end; ports are private.
"""
import hashlib
import os
import random
import socket
import struct
import subprocess
import sys
import time

COOKIE = "FUZZCOOKIE"  # erlnode::fuzzing::FUZZ_COOKIE
HOST = socket.gethostname().split(".")[0]
OUT = sys.argv[1]
DEADLINE = 20.0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def save(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def recv2(sock):
    (n,) = struct.unpack(">H", recv_exact(sock, 2))
    return recv_exact(sock, n)


def send2(sock, payload):
    sock.sendall(struct.pack(">H", len(payload)) + payload)


def frame2(payload):
    return struct.pack(">H", len(payload)) + payload


def digest(challenge):
    return hashlib.md5((COOKIE + str(challenge)).encode()).digest()


def erl(env_port, args, evalexpr):
    env = dict(os.environ, ERL_EPMD_PORT=str(env_port))
    return subprocess.Popen(
        ["erl", "-noshell", "-setcookie", COOKIE] + args + ["-eval", evalexpr],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def fake_epmd():
    """A fake EPMD that records the request of every connection."""
    port = free_port()
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", port))
    lst.listen(16)
    lst.settimeout(DEADLINE)
    node = erl(port, ["-sname", "seedepmd"],
               'net_adm:names(), erl_epmd:port_please("nobody", "localhost"), '
               'net_adm:ping(nobody@localhost), halt().')
    reqs = []
    keep = []
    try:
        while True:
            try:
                c, _ = lst.accept()
            except socket.timeout:
                break
            c.settimeout(5)
            try:
                req = recv2(c)
            except (EOFError, socket.timeout):
                c.close()
                continue
            reqs.append(req)
            op = req[0]
            if op == 120:  # ALIVE2_REQ: registered, creation 5; keep the socket
                c.sendall(bytes([118, 0, 0, 0, 0, 5]))
                keep.append(c)
                continue
            if op == 110:  # NAMES_REQ
                c.sendall(struct.pack(">I", port) + b"name seedepmd at port 4000\n")
            elif op == 122:  # PORT_PLEASE2_REQ: not found
                c.sendall(bytes([119, 1]))
            c.close()
            if node.poll() is not None and len(reqs) >= 4:
                break
    finally:
        node.kill()
        node.wait()
    # The epmd CLI's requests.
    for args in (["-names"], ["-kill"], ["-stop", "seedepmd"]):
        p = subprocess.Popen(["epmd", "-port", str(port)] + args,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            c, _ = lst.accept()
            c.settimeout(5)
            reqs.append(recv2(c))
            c.close()
        except (socket.timeout, EOFError):
            pass
        p.kill()
        p.wait()
    for c in keep:
        c.close()
    lst.close()
    return reqs


def start_epmd():
    port = free_port()
    p = subprocess.Popen(["epmd", "-port", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.time() + DEADLINE
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return p, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("epmd did not start")


def register(epmd_port, name, port):
    s = socket.create_connection(("127.0.0.1", epmd_port))
    n = name.encode()
    send2(s, struct.pack(">BHBBHHH", 120, port, 72, 0, 6, 5, len(n)) + n + b"\0\0")
    recv_exact(s, 6)
    return s


def capture_acceptor(epmd_port, header=False):
    """We accept; a real erl dials us. Returns (its messages, frames). With
    `header`, we offer DIST_HDR_ATOM_CACHE and FRAGMENTS and it sends a
    message big enough to be fragmented."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    lst.settimeout(DEADLINE)
    reg = register(epmd_port, "seedacc", lst.getsockname()[1])
    target = "seedacc@%s" % HOST
    expr = (
        "true = net_kernel:connect_node('%(t)s'), "
        "{seedname, '%(t)s'} ! {hello, [1,2,3], <<\"bin\">>, self(), make_ref(), 3.5, #{a => 1}}, "
        "{seedname, '%(t)s'} ! lists:seq(1, 300), "
        "R = erlang:monitor(process, {seedname, '%(t)s'}), erlang:demonitor(R), "
        "spawn('%(t)s', lists, seq, [1, 3]), "
        "rpc:cast('%(t)s', erlang, node, []), "
        "{seedname, '%(t)s'} ! term_to_binary(lists:seq(1, 100), [compressed]), "
        "%(big)s"
        "timer:sleep(500), halt()." % {
            "t": target,
            "big": "{seedname, '%s'} ! {big, lists:seq(1, 20000)}, " % target if header else ""})
    node = erl(epmd_port, ["-sname", "seedini"], expr)
    msgs, frames = [], []
    try:
        c, _ = lst.accept()
        c.settimeout(5)
        name = recv2(c)
        msgs.append(name)
        (flags,) = struct.unpack(">Q", name[1:9])
        if not header:
            flags &= ~(0x2000 | 0x800000)  # no atom cache header, no fragments
        send2(c, b"sok")
        ours = random.getrandbits(32)
        n = target.encode()
        send2(c, b"N" + struct.pack(">QIIH", flags, ours, 7, len(n)) + n)
        reply = recv2(c)
        msgs.append(reply)
        (theirs,) = struct.unpack(">I", reply[1:5])
        send2(c, b"a" + digest(theirs))
        while True:
            try:
                (n,) = struct.unpack(">I", recv_exact(c, 4))
                body = recv_exact(c, n)
            except (EOFError, socket.timeout, ConnectionError):
                break
            if body or header:
                frames.append(body)
        c.close()
    finally:
        node.kill()
        node.wait()
        reg.close()
        lst.close()
    return msgs, frames


def port_please(epmd_port, name):
    s = socket.create_connection(("127.0.0.1", epmd_port))
    send2(s, b"z" + name.encode())
    r = recv_exact(s, 4)
    s.close()
    return struct.unpack(">H", r[2:4])[0]


def capture_initiator(epmd_port, dynamic):
    """We dial a real erl named acceptor@fuzzhost. Returns its messages."""
    node = erl(epmd_port, ["-sname", "acceptor@fuzzhost"], "timer:sleep(15000), halt().")
    try:
        end = time.time() + DEADLINE
        port = None
        while time.time() < end and not port:
            try:
                port = port_please(epmd_port, "acceptor")
            except (EOFError, OSError):
                time.sleep(0.1)
        c = socket.create_connection(("127.0.0.1", port))
        c.settimeout(5)
        # OTP 25's send_name flags (PROTOCOL.md 2.2) minus PUBLISHED.
        flags = 0xD07DF7FBC
        if dynamic:
            flags |= 1 << 33
            name = b"fuzzhost"
        else:
            name = b"initiator@fuzzhost"
        send2(c, b"N" + struct.pack(">QIH", flags, 0 if dynamic else 9, len(name)) + name)
        msgs = [recv2(c)]
        ch = recv2(c)
        msgs.append(ch)
        (theirs,) = struct.unpack(">I", ch[9:13])
        ours = random.getrandbits(32)
        send2(c, b"r" + struct.pack(">I", ours) + digest(theirs))
        msgs.append(recv2(c))
        c.close()
        return msgs
    finally:
        node.kill()
        node.wait()


def main():
    random.seed(7)
    for i, req in enumerate(fake_epmd()):
        save("epmd_server", "real_%d_op%d" % (i, req[0]), bytes([1]) + frame2(req))
    epmd, port = start_epmd()
    try:
        msgs, frames = capture_acceptor(port)
        stream = b"".join(frame2(m) for m in msgs)
        for opts in (0, 8, 1, 4 | 8, 2, 3):
            save("handshake_acceptor", "real_opts%d" % opts, bytes([opts]) + stream)
        for i, f in enumerate(frames):
            save("dist_frame", "real_%d" % i, f)
        _, frames = capture_acceptor(port, header=True)
        stream = b"".join(struct.pack(">I", len(f)) + f for f in frames)
        save("dist_header", "real_stream", stream)
        for i, f in enumerate(frames):
            if len(f) < 4096:
                save("dist_header", "real_%d" % i, struct.pack(">I", len(f)) + f)
        for dynamic in (False, True):
            try:
                msgs = capture_initiator(port, dynamic)
            except (EOFError, OSError, TypeError) as e:
                print("initiator capture (dynamic=%s) failed: %s" % (dynamic, e))
                continue
            stream = b"".join(frame2(m) for m in msgs)
            for opts in (0, 8):
                o = opts | (1 if dynamic else 0)
                save("handshake_initiator", "real_opts%d" % o, bytes([o]) + stream)
    finally:
        epmd.kill()
        epmd.wait()


if __name__ == "__main__":
    main()
