"""Free TCP ports for the servers tests start (webserver, MLflow, moto), so parallel helpers never collide."""

import socket


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
