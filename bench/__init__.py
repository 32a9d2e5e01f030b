"""The benchmark: the service side by side with the raw CTranslate2 engine and naive serving.

Run it with ``make bench`` or ``python -m bench --help``; see docs/benchmarks.md.
"""
