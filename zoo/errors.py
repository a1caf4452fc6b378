"""Errors the entrypoints report as one line and a non-zero exit."""


class ZooError(Exception):
  """Base of the errors a user can fix by changing their input."""


class ConfigError(ZooError, ValueError):
  """A config file, override or mesh is invalid."""


class DataError(ZooError, ValueError):
  """A dataset or data directory is missing or invalid."""


class CheckpointError(ZooError):
  """A checkpoint is corrupt or does not match the model being restored."""


class TrainingDiverged(ZooError):
  """The loss or a metric became NaN or infinite."""
