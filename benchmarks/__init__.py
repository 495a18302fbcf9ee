"""The connection benchmark, split by what it measures; ``python benchmarks/connect.py`` runs it.

* :mod:`benchmarks.common`: the local Aurora-like server, targets, small statistics.
* :mod:`benchmarks.warm`: new connections in a long-lived process (framework variants).
* :mod:`benchmarks.cold`: whole fresh processes (start, connect, ``SELECT 1``, exit) and
  their peak memory; the child program is :mod:`benchmarks.cold_child`.
* :mod:`benchmarks.latency`: a delaying loopback proxy, and the round trips it reveals.
* :mod:`benchmarks.storm`: many concurrent new connections.
* :mod:`benchmarks.aws_wrapper`: aws-advanced-python-wrapper beside us, in its own venv.
* :mod:`benchmarks.report`: the one table of ratios and targets.
"""
