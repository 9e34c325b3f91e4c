#!/usr/bin/python3
"""
grpc_backend.py: a gRPC test server (Debian's python3-grpcio, generic
handlers, bytes in and out: no protoc), for the gRPC integration tests.
Run as a script: prints its port on stdout, serves until killed.

Service t.Echo:
  Unary   "echo:" + the request
  Bidi    every message back, in order
  Abort   fails with NOT_FOUND "nope" (a trailers-only answer)
  Big     N messages of 64 KiB (N the request, in decimal)
  Slow    answers after 3 s
  Peers   how many distinct peers (client connections) it has seen
"""
import subprocess
import sys
import time


def serve():
    import grpc
    from concurrent import futures
    peers = set()

    def note(ctx):
        peers.add(ctx.peer())

    def unary(req, ctx):
        note(ctx)
        return b"echo:" + req

    def bidi(it, ctx):
        note(ctx)
        for m in it:
            yield m

    def abort(req, ctx):
        note(ctx)
        ctx.abort(grpc.StatusCode.NOT_FOUND, "nope")

    def big(req, ctx):
        note(ctx)
        chunk = bytes(range(256)) * 256
        for _ in range(int(req.decode())):
            yield chunk

    def slow(req, ctx):
        note(ctx)
        time.sleep(3)
        return b"late"

    def npeers(req, ctx):
        return str(len(peers)).encode()

    h = grpc.method_handlers_generic_handler("t.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Abort": grpc.unary_unary_rpc_method_handler(abort),
        "Big": grpc.unary_stream_rpc_method_handler(big),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
        "Peers": grpc.unary_unary_rpc_method_handler(npeers),
    })
    s = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
    s.add_generic_rpc_handlers((h,))
    port = s.add_insecure_port("127.0.0.1:0")
    s.start()
    print(port, flush=True)
    s.wait_for_termination()


class GrpcBackend:
    """The server above in a subprocess; .port, .addr; cleanup() kills it."""

    def __init__(self):
        from portico_test import register
        self.proc = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE)
        self.port = int(self.proc.stdout.readline().decode().strip())
        self.addr = "127.0.0.1:%d" % self.port
        register(self)

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


if __name__ == "__main__":
    serve()
