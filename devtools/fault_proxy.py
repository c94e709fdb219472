"""A TCP proxy on loopback that breaks a server on demand, as a network or a dying server does.

Put it between the skill and MySQL or DynamoDB Local; the client libraries then meet real
socket behaviour:
- "pass": forward bytes both ways;
- "down": refuse new connections and cut the open ones (the server stopped);
- "cut": cut the open connections once, then pass (MySQL's wait_timeout, a failover);
- "stall": keep connections open but forward nothing (a hung server, a slow query);
- "slow": forward, each chunk `delay_s` late (a slow network or query).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

MODES = ("pass", "down", "cut", "stall", "slow")


class FaultProxy:
    def __init__(self, target_host: str, target_port: int, delay_s: float = 1.0):
        self.target = (target_host, target_port)
        self.delay_s = delay_s
        self._mode = "pass"
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if value in ("down", "cut"):
            self.cut_all()
        self._mode = "pass" if value == "cut" else value

    def cut_all(self) -> None:
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._closed = True
        self.cut_all()
        self._listener.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._mode == "down":
                client.close()  # like a closed port, as far as the client can tell
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        with self._lock:
            self._open.update((client, upstream))
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                while self._mode == "stall" and not self._closed:
                    time.sleep(0.05)
                if self._mode == "slow":
                    time.sleep(self.delay_s)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._open.difference_update((source, sink))
