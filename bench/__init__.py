"""Benchmarks of stagebox against its peers (sox, aplay, the bare libraries).

``python -m bench.run`` runs them all, prints a table and writes ``bench/results.md``;
``--quick`` runs them on tiny sizes (the CI test). Generated media is cached under
``bench/out/``.
"""
