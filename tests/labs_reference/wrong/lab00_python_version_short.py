# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab00_setup.py, where it replaces the correct definition.
# See README.md beside this file.


def env_report() -> dict:
    return {
        "python": ".".join(platform.python_version_tuple()[:2]),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "tinytorch": tt.__version__,
    }
