"""`s2s bench`: the service side by side with the raw CTranslate2 engine and naive serving.

Run it with ``make bench`` or ``python -m service bench --help``; see docs/benchmarks.md.
"""
