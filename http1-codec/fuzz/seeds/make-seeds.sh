#!/usr/bin/env bash
# Writes the seed corpora of the codec's fuzz targets: `parse_response/` and `chunked/`
# beside this script. Run it again after editing; the files are checked in, and CI copies
# them into a scratch corpus (the fuzzer never writes here).
#
# Each seed is one control byte, then the bytes under test (see fuzz_targets/*.rs):
# - parse_response: control bits 0-1 pick the request method (0 GET, 1 HEAD, 2 CONNECT,
#   3 POST), bit 2 the small limits (256 head bytes, 4 headers), bits 3-7 where the head
#   is split into two reads (n/31 of its length). Then a response: head, maybe a body.
# - chunked: control % 8 is how many of the first input bytes become split points.
#   Then a chunked body, from the first chunk-size line to the end of the trailers.
#
# printf formats: write '%%' for a literal percent sign.
set -euo pipefail
cd "$(dirname "$0")"

# seed DIR NAME CONTROL-HEX FORMAT
seed() {
  { printf -- "\\x$3"; printf -- "$4"; } >"$1/$2"
}

rm -rf parse_response chunked
mkdir parse_response chunked

# --- parse_response: valid responses of every framing ------------------------------
d=parse_response
seed $d cl-200 00 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello'
seed $d cl-200-split-half 80 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nDate: Tue, 24 Nov 2026 03:04:05 GMT\r\n\r\nhello'
seed $d cl-0 00 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'
seed $d cl-same-twice 00 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc'
seed $d cl-list-same 00 'HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc'
seed $d chunked 00 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'
seed $d chunked-ext-trailers 48 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Expires, X-Checksum\r\n\r\n5;name=value\r\nhello\r\n6;quoted="a b";flag\r\n world\r\n0\r\nExpires: never\r\nX-Checksum: 1f\r\n\r\n'
seed $d chunked-after-gzip 00 'HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'
seed $d te-two-fields 00 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
seed $d close-delimited-11 00 'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody until the server closes'
# chunked not last: RFC 9112 §6.3 makes a response close-delimited (not an error)
seed $d te-chunked-not-final 00 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nbody until close'
seed $d close-delimited-10 00 'HTTP/1.0 200 OK\r\nServer: old\r\n\r\nbody until close'
seed $d http10-keep-alive 00 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5, max=100\r\nContent-Length: 2\r\n\r\nok'
seed $d connection-tokens 00 'HTTP/1.1 200 OK\r\nConnection: keep-alive, Upgrade, close\r\nContent-Length: 2\r\n\r\nok'
seed $d continue-then-201 03 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nLocation: /items/7\r\nContent-Length: 0\r\n\r\n'
seed $d early-hints-then-200 00 'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'
seed $d processing-102 00 'HTTP/1.1 102 Processing\r\n\r\n'
seed $d switching-101 00 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'
seed $d no-content-204 00 'HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n'
seed $d not-modified-304 00 'HTTP/1.1 304 Not Modified\r\nETag: "abc"\r\nContent-Length: 1234\r\n\r\n'
seed $d head-cl 01 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n'
seed $d head-chunked 01 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
seed $d connect-200 02 'HTTP/1.1 200 Connection established\r\n\r\n'
seed $d connect-407 02 'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="p"\r\nContent-Length: 0\r\n\r\n'
seed $d post-404-empty-reason 03 'HTTP/1.1 404 \r\nContent-Length: 9\r\n\r\nnot found'
seed $d bare-lf 00 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok'
seed $d small-limits-ok 04 'HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nContent-Length: 1\r\n\r\nx'
# --- parse_response: invalid or refused ------------------------------------------------
seed $d bad-cl-and-te 00 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'
seed $d bad-cl-differ 00 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'
seed $d bad-cl-signed 00 'HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello'
seed $d bad-cl-overflow 00 'HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n'
seed $d bad-te-chunked-twice 00 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n'
seed $d bad-obs-fold 00 'HTTP/1.1 200 OK\r\nX-Folded: one\r\n two\r\nContent-Length: 0\r\n\r\n'
seed $d bad-space-before-colon 00 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n'
seed $d bad-version 00 'HTTP/2.0 200 OK\r\n\r\n'
seed $d bad-status 00 'HTTP/1.1 99 Low\r\n\r\n'
seed $d bad-leading-crlf 00 '\r\nHTTP/1.1 200 OK\r\n\r\n'
seed $d bad-nul-in-value 00 'HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n'
seed $d small-limits-too-many 04 'HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n'

# --- chunked: valid bodies -------------------------------------------------------------
d=chunked
seed $d one-chunk 00 '5\r\nhello\r\n0\r\n\r\n'
seed $d empty-body 00 '0\r\n\r\n'
seed $d two-chunks-hex 00 '3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n'
seed $d upper-hex-leading-zeros 00 '000F\r\nfifteen bytes!!\r\n00\r\n\r\n'
seed $d extensions 00 '5;name=value\r\nhello\r\n6;a;b=c\r\n world\r\n0;last\r\n\r\n'
seed $d extension-quoted 00 '4;q="a \\"b\\" c"\r\nabcd\r\n0\r\n\r\n'
seed $d whitespace-after-size 00 '5 \t;x=y\r\nhello\r\n0\r\n\r\n'
seed $d trailers 00 '5\r\nhello\r\n0\r\nExpires: never\r\nX-Checksum: 1f\r\n\r\n'
seed $d split-three 03 '5\r\nhello\r\n0\r\nT: 1\r\n\r\n'
seed $d split-seven 07 '1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n'
# --- chunked: invalid or cut short -------------------------------------------------------
seed $d bad-bare-lf 00 '5\nhello\n0\n\n'
seed $d bad-size-overflow 00 'ffffffffffffffffff\r\nx\r\n0\r\n\r\n'
seed $d bad-size-negative 00 '-5\r\nhello\r\n0\r\n\r\n'
seed $d bad-size-empty 00 '\r\nhello\r\n0\r\n\r\n'
seed $d bad-no-crlf-after-data 00 '5\r\nhelloX0\r\n\r\n'
seed $d bad-ext-control-byte 00 '5;a=\x01\r\nhello\r\n0\r\n\r\n'
seed $d bad-ext-too-long 00 '1;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nx\r\n0\r\n\r\n'
seed $d bad-trailer-obs-fold 00 '0\r\nT: 1\r\n  folded\r\n\r\n'
seed $d cut-short 00 '10\r\nonly part'
