"""standin.py NAME PORT: the compose test's stand-in for lucid-mongodb and lucid-redis: a TCP server that answers
every line with "+PONG NAME" and logs each client's address on standard output (podman logs)."""
import socketserver
import sys

NAME, PORT = sys.argv[1], int(sys.argv[2])


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        print(NAME, "client", self.client_address[0], flush=True)
        for _ in self.rfile:
            self.wfile.write(("+PONG %s\r\n" % NAME).encode())
            break


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


print(NAME, "listening on port", PORT, flush=True)
Server(("0.0.0.0", PORT), Handler).serve_forever()
