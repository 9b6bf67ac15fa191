"""The one exception type of the positional MNIST package."""


class DatasetError(ValueError):
    """Invalid input to, or output of, the positional MNIST writer or reader.

    The message names the file, folder or value at fault and, where there is
    one, the fix.
    """
