"""The local sandbox account: moto's server, its compatibility layer, and real Lambda/Batch execution.

Modules: ``layout`` (files under .fanout/sandbox/ and the environment child processes get),
``compat`` (moto's gaps), ``lambda_runner`` / ``batch_runner`` (real code runs), ``server`` (the entry
point of the background process), ``control`` (start/stop/status), ``cli`` (the ``sandbox`` verb).
"""
