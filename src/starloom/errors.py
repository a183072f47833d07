"""Errors that tell the user what went wrong and what to do, in one paragraph."""


class StarloomError(Exception):
    """An error a user can act on. The message names the thing and what to do."""


def first_line(exc: BaseException) -> str:
    """An error's first line (its class name if it has no message): what a record or a
    one-line summary keeps of it."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class ConfigError(StarloomError):
    """A setting is missing or malformed."""


class WarehouseError(StarloomError):
    """The warehouse cannot be reached or refused a statement."""


class WarehouseLockedError(WarehouseError):
    """Another process holds the embedded warehouse directory."""


class SourceError(StarloomError):
    """A source (file, folder, database) is missing or unreadable."""


class ContractError(StarloomError):
    """Data broke its contract in a way that cannot be quarantined row by row."""


class ModelError(StarloomError):
    """A SQL model is malformed or failed to build."""
