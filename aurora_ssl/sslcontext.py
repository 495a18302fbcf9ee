"""Python ``ssl`` contexts for drivers that do not use libpq (asyncpg).

asyncpg does its own TLS with the standard library, so verify-full has to be spelled out as
an :class:`ssl.SSLContext`: the selected roots only, certificate and host name checks on,
TLS 1.2 at least. With ``tls_server_name`` the context checks (and sends as SNI) the RDS name
while the socket goes to the resolved address of the name the application used.
"""

from __future__ import annotations

import ssl

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["verify_full_context"]


class _PinnedNameContext(ssl.SSLContext):
    """A context that verifies a fixed server name, whatever host the socket connected to."""

    pinned_name: str = ""

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: Any = None,
        session: Any = None,
    ) -> ssl.SSLObject:
        return super().wrap_bio(incoming, outgoing, server_side, self.pinned_name, session)

    def wrap_socket(self, sock: Any, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        kwargs["server_hostname"] = self.pinned_name
        return super().wrap_socket(sock, *args, **kwargs)


def verify_full_context(cafile: str, server_name: str | None = None) -> ssl.SSLContext:
    """An ``SSLContext`` equivalent to libpq ``sslmode=verify-full`` with ``cafile`` roots.

    Args:
        cafile: the trust file chosen by :func:`aurora_ssl.trust.select_trust`.
        server_name: verify this name instead of the connect host (``tls_server_name``).
    """
    context: ssl.SSLContext
    if server_name:
        pinned = _PinnedNameContext(ssl.PROTOCOL_TLS_CLIENT)
        pinned.pinned_name = server_name
        context = pinned
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=cafile)
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
