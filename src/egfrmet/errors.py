"""The one error type users see for bad input: it names the patient, the column and the file."""


class InputError(Exception):
    """Bad input, detected before expensive work."""

    def __init__(self, message, *, patient=None, column=None, path=None):
        self.message = message
        self.patient = patient
        self.column = column
        self.path = path
        super().__init__(str(self))

    def __str__(self):
        where = [
            f"{name} {value}"
            for name, value in (
                ("patient", self.patient),
                ("column", self.column),
                ("file", self.path),
            )
            if value is not None
        ]
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def about(self, *, patient=None, column=None, path=None):
        """The same error, with the context a caller knows filled in."""
        return InputError(
            self.message,
            patient=self.patient or patient,
            column=self.column or column,
            path=self.path or path,
        )

    def prefixed(self, text):
        """The same error, its message after `text`."""
        return InputError(text + self.message, patient=self.patient, column=self.column, path=self.path)
