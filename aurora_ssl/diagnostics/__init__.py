"""Diagnostics: why a connection is (or is not) verified, explained to an operator.

The connect path imports this package only once a connection has failed (to explain it);
otherwise it runs when asked (``aurora-ssl inspect``/``check``, ``manage.py
check_aurora_ssl``). The core never imports it. One job per module, from the wire up:

==============  ================================================================================
``wire``        PostgreSQL's SSLRequest, the TLS handshake, the presented chain,
                and OpenSSL's (libpq's) verdict on it
``describe``    the facts of a certificate, libpq's name rules, RDS CA identifiers
``chain``       chain judgement property by property (trusted, valid now, name)
``findings``    the finding type, the verdict, and every remediation text, once
``inspection``  :func:`inspect_server` and its :class:`Inspection` result
``driver``      what a driver's exception tells (target, libpq's text); its password blanked
``translate``   :func:`translate_error`: a driver's TLS failure, explained
``report``      :func:`check_connection`: connect once and report both ends' view
``render``      the text form of inspections and reports
==============  ================================================================================
"""
