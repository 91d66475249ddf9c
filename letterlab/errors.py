"""The error types letterlab raises for people: each carries one line naming the file and the problem."""


class LetterlabError(Exception):
    """A problem with the user's input or environment. The CLI prints it as one line, exit code 2."""

    exit_code = 2


class DataError(LetterlabError):
    """A data file or folder that cannot be read as letter images."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


class ConfigError(LetterlabError):
    """A configuration with an unknown key or a bad value."""


class TrainingDiverged(LetterlabError):
    """The loss became NaN or inf. The last good checkpoint is kept."""

    exit_code = 3
