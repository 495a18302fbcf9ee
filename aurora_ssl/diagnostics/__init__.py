"""Diagnostics: why a connection is (or is not) verified, explained to an operator.

Nothing on the connect path imports this package; it runs when something failed or when
asked (``aurora-ssl inspect``/``check``, ``manage.py check_aurora_ssl``). One job per module,
from the wire up:

=============  ==================================================================
``wire``       PostgreSQL's SSLRequest, the TLS handshake, the presented chain,
               and OpenSSL's (libpq's) verdict on it
``describe``   the facts of a certificate, libpq's name rules, RDS CA identifiers
``chain``      chain judgement property by property (trusted, valid now, name)
``findings``   the finding type, the verdict, and every remediation text, once
``inspection`` :func:`inspect_server` and its :class:`Inspection` result
``translate``  :func:`translate_error`: a driver's TLS failure, explained
``report``     :func:`check_connection`: connect once and report both ends' view
``render``     the text form of inspections and reports
=============  ==================================================================
"""
