"""The one failure type of the state model: a vendor error code for the whole request."""


class ApiError(Exception):
    """Refuses a whole request with a catalogue code (ActionStatus FAIL).

    ``info`` overrides the catalogue's ErrorInfo where one condition deserves a more exact text.
    """

    def __init__(self, code: int, info: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.info = info
