# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab00_setup.py, where it replaces the correct definition.
# See README.md beside this file.


def env_report() -> dict:
    """The versions this lab runs on, as strings: a dict with the keys ``"python"``
    (``major.minor.micro``, e.g. ``"3.11.7"``), ``"numpy"``, ``"numba"`` and
    ``"tinytorch"``.

    >>> sorted(env_report())
    ['numba', 'numpy', 'python', 'tinytorch']
    """
    return {
        "python": ".".join(platform.python_version_tuple()[:2]),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "tinytorch": tt.__version__,
    }
