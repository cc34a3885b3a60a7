"""A TCP proxy that adds network latency, for benchmarks against a database on this machine.

    proxy = LatencyProxy("127.0.0.1", 5432, delay=0.002)   # 2 ms each way
    proxy.start()            # then connect to 127.0.0.1:proxy.port
    ...
    proxy.round_trips        # requests the clients sent (a burst of bytes after a reply)
    proxy.stop()

Standard library only. Each chunk of bytes is held ``delay`` seconds before it is passed on,
in each direction, so a request and its reply cost 2 x ``delay`` more than they do directly,
as between two machines in one data centre (2 ms each way is a slow one; across regions it is
tens). A round trip is counted each time a client sends after having received: a pipelined
burst of statements counts once, as it costs once.
"""
from __future__ import annotations

import socket
import threading
import time


class LatencyProxy:
    def __init__(self, host: str, port: int, delay: float = 0.002) -> None:
        self.upstream = (host, port)
        self.delay = delay
        self.round_trips = 0
        self._counting = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open: list[socket.socket] = []
        self._stopped = False

    def start(self) -> LatencyProxy:
        threading.Thread(target=self._accept, daemon=True, name="latency proxy").start()
        return self

    def stop(self) -> None:
        self._stopped = True
        self._listener.close()
        for sock in list(self._open):
            try:
                sock.close()
            except OSError:
                pass

    def reset(self) -> int:
        """The round trips counted so far, and start again from 0."""
        with self._counting:
            count, self.round_trips = self.round_trips, 0
        return count

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._open.append(sock)
            turn = {"replied": True}  # a client's first bytes are a round trip too
            threading.Thread(target=self._pump, args=(client, server, turn, True),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, turn, False),
                             daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, turn: dict[str, bool],
              from_client: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if from_client:
                    if turn["replied"]:
                        with self._counting:
                            self.round_trips += 1
                        turn["replied"] = False
                else:
                    turn["replied"] = True
                time.sleep(self.delay)
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
