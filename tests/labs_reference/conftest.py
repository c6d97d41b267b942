# The files under wrong/ are deliberately buggy lab copies for the grader self-tests: their
# doctests are meant to fail, so pytest's --doctest-modules must not collect them.
collect_ignore_glob = ["wrong/*.py"]
