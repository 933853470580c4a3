#!/usr/bin/env python3
# A sink for streamed-upload measurements (docs/benchmarks.md, "Streamed uploads"):
# listens on 127.0.0.1:PORT, reads each request with a chunked or Content-Length body,
# counts the body bytes without keeping them, answers 200 with the count. One
# connection at a time. Usage: upload_sink.py PORT
import socket, sys
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen(4)
while True:
    c, _ = srv.accept()
    buf = bytearray(); pos = 0
    def fill():
        global buf, pos
        if pos > (1 << 20):
            del buf[:pos]; pos = 0
        d = c.recv(1 << 20)
        if not d: raise EOFError
        buf += d
    try:
        while buf.find(b"\r\n\r\n") < 0: fill()
        end = buf.find(b"\r\n\r\n")
        h = bytes(buf[:end]).decode("latin1").lower(); pos = end + 4
        total = 0
        if "transfer-encoding: chunked" in h:
            while True:
                while buf.find(b"\r\n", pos) < 0: fill()
                e = buf.find(b"\r\n", pos)
                size = int(bytes(buf[pos:e]).split(b";")[0], 16); pos = e + 2
                if size == 0:
                    while buf.find(b"\r\n", pos) < 0: fill()
                    break
                while len(buf) - pos < size + 2: fill()
                total += size; pos += size + 2
        else:
            n = int(h.split("content-length:")[1].split("\r\n")[0])
            total = len(buf) - pos
            while total < n:
                d = c.recv(1 << 20)
                if not d: break
                total += len(d)
        body = str(total).encode()
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    except EOFError:
        pass
    c.close()
