# solutions/ and wrong/ hold function fragments that the grader self-tests splice into a
# lab (tests/test_grading.py): alone they are not importable, so pytest must not collect them.
collect_ignore_glob = ["solutions/*.py", "wrong/*.py"]
