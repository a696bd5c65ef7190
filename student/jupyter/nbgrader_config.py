"""nbgrader settings for the Validate button of the student kit.

Validate runs the whole notebook, as grading does. The course's exercises use small delays:
a cell that runs longer than this is stuck (a deadlock or a blocking call) and is stopped,
with the same limit as at grading.
"""

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.Execute.timeout = 60
c.ExecutePreprocessor.timeout = 60
