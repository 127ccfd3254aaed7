"""The extending guide's example code, importable so workers can find it.

Each module is the seed's example with its own bugs fixed (missing imports,
``json.loads(raw_json)``, str vs bytes around bz2, ``is_async`` missing from
SkinnyTask's data, a 1.0 client that fails on an empty queue) and nothing else
changed in spirit. Network access is replaced by an in-memory fake.
"""
