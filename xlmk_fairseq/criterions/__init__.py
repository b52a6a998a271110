from . import xlmk  # noqa: F401
