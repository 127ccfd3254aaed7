"""The exception tree, under its short name: ``from alligator import errors``."""

from alligator.exceptions import *  # noqa: F403
from alligator.exceptions import __all__ as __all__  # noqa: PLC0414
