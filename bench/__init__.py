"""`make bench`: KeyProxy's performance measurements (issue #6). Not a test; not run by CI.

See bench/README.md. `python -m bench.run [--workers N] [--quick]`.
"""
