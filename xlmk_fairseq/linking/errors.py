"""The one error of entity linking: bad input, told in one line by the commands."""


class LinkingError(ValueError):
    """A model, index, data set or query that cannot be used; the message says why."""
