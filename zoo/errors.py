"""Errors the entrypoints report as one line and a non-zero exit."""


class ZooError(Exception):
  """Base of the errors a user can fix by changing their input."""


class ConfigError(ZooError, ValueError):
  """A config file, override or mesh is invalid."""


class DataError(ZooError, ValueError):
  """A dataset or data directory is missing or invalid."""


class CheckpointError(ZooError):
  """A checkpoint is corrupt or does not match the model being restored."""


class CheckpointCorrupt(CheckpointError):
  """A checkpoint's files are damaged: unreadable, or its arrays differ from
  the digests recorded when it was saved."""


class WorkdirError(ZooError):
  """A workdir cannot be used: another run holds it, it is not a writable
  directory, or its files are damaged."""


class TrainingDiverged(ZooError):
  """The loss or a metric became NaN or infinite."""
