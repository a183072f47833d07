"""Shared pytest fixtures."""

from tests.support.fixtures import *  # noqa: F403
from tests.support.project import project, wh  # noqa: F401
