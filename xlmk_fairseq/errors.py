"""User errors (bad data directory, bad configuration) that stop the run with a message."""


class ConfigError(SystemExit):
    """Exits with a one-line message and status 1, without a traceback.

    A SystemExit subclass on purpose: fairseq wraps exceptions raised while it loads a
    checkpoint in a generic "Cannot load model parameters" error, and prints a traceback for
    any other exception; a SystemExit passes through both and reaches the user as written.
    """

    def __init__(self, message: str):
        self.message = message
        super().__init__(f"xlmk_fairseq: error: {message}")
