"""The example application used throughout the documentation.

``docs/examples`` is put on ``sys.path`` by the docs tests, so these modules
are importable exactly as a worker would import a real application's tasks.
"""
