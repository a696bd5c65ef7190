"""grader: instructor tooling on top of nbgrader."""
