"""Evaluation tools, kept apart from the product core: the simulated fleet (``simulate``), the NAB
scorer (``nab``), ``aiops score`` (``scoring``) and ``aiops demo`` (``demo``).

The service itself (engine, store, API, consumers) never imports this package; benchmarks, tests and
the two commands do.
"""
