"""Sphinx configuration for the Alligator documentation.

Some pages include files made at build time, under ``_generated/`` (not kept
in git): the ``--help`` of every command (``_scripts/cli_help.py``), the
codec table, measured on the building machine by
``_scripts/codec_table.py``, and the latest benchmark results, copied from
``benchmarks/results/`` when the benchmark run has produced them and replaced
by a short stub when it has not, so a fresh clone always builds. Figures
quoted in the prose are substitutions (``|bench-...|``) made from
``benchmarks/results/results.json`` by ``_scripts/bench_figures.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GENERATED = HERE / "_generated"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE / "_scripts"))
sys.path.insert(0, str(HERE / "examples"))

project = "Alligator"
author = "The Alligator developers"
copyright = "the Alligator developers"
release = "2.0.0.dev0"
version = "2.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
exclude_patterns = ["_build", "_generated", "_scripts", "examples"]
root_doc = "index"
html_theme = "alabaster"
html_static_path: list[str] = []
html_title = "Alligator 2.0"
pygments_style = "sphinx"

# Google-style docstrings, as STYLE.md asks; types come from the annotations.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_class_signature = "separated"
autodoc_default_options = {"members": True, "show-inheritance": True}


def _write_if_changed(path: Path, text: str) -> None:
    # Rewriting an unchanged file would make Sphinx rebuild every page that includes it.
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _generate() -> None:
    GENERATED.mkdir(exist_ok=True)
    import codec_table

    _write_if_changed(GENERATED / "codec_table.rst", codec_table.render_rst())
    import bench_include

    _write_if_changed(GENERATED / "benchmarks.rst", bench_include.render_rst(ROOT, GENERATED))
    import cli_help

    cli_help.write_all(ROOT, GENERATED)


_generate()

# Figures the prose quotes (|bench-...|) come from benchmarks/results/results.json.
import bench_figures  # noqa: E402

rst_prolog = bench_figures.rst_prolog(ROOT)
