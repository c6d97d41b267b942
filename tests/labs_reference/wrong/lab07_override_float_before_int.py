# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab07_config.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: the value is tried as a float before an int, and float("3") reads: every whole
# number comes back as a float (train.epochs=3 gives 3.0, [64, 32] gives [64.0, 32.0]).


def parse_override(item: str) -> tuple:
    if not isinstance(item, str):
        raise TypeError(f"parse_override(): an override is a str, got {item!r}")
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not all(part.isidentifier() for part in key.split(".")):
        raise ValueError(f"override {item!r} is not key=value")

    def typed(text):
        text = text.strip()
        if text.startswith("[") and text.endswith("]"):
            inner = text[1:-1].strip()
            return [typed(part) for part in inner.split(",")] if inner else []
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            return text[1:-1]
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        for kind in (float, int):
            try:
                return kind(text)
            except ValueError:
                pass
        return text

    return key, typed(text)
