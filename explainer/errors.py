"""The one exception type the command line turns into a one-line message."""


class ExplainerError(Exception):
    """A problem the user can fix; its message says how. The CLI prints it without a traceback.

    Example:

    >>> from explainer import ExplainerError, load_checkpoint
    >>> try:
    ...     load_checkpoint("no_such_model")
    ... except ExplainerError as error:
    ...     print("shipped models:" in str(error))
    True
    """
