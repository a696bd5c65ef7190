"""nbgrader settings for every user of the hub: the exchange and the course.

Read by every user's server (JUPYTER_CONFIG_PATH, set by jupyterhub_config.py). Students'
Assignments list fetches from and submits to this exchange; instructors release to it and
collect from it.
"""

import os

from nbgrader.exchange.default.submit import ExchangeSubmit

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.Exchange.root = os.environ.get("ASYNCIO_EXCHANGE", "/srv/nbgrader/exchange")
c.CourseDirectory.course_id = "asyncio-course"


class SubmitPrivately(ExchangeSubmit):
    """nbgrader's submit, with the submission's folder open to the instructors only.

    nbgrader leaves a submission's folder in the exchange's inbound world-writable (777)
    and its files world-readable, hidden only by a random part in its name: anyone who
    learns the name can read the notebook or put files in it. The inbound folder belongs
    to the instructor's group (set-group-id), and so does the new folder: mode 770 keeps
    the student and the instructors, who collect (read) and may delete it, and shuts out
    everyone else."""

    def copy_files(self):
        super().copy_files()
        folder = os.path.join(self.inbound_path, self.assignment_filename)
        if os.stat(folder).st_gid == os.stat(self.inbound_path).st_gid:
            os.chmod(folder, 0o770)
        else:  # no instructors' group to give it to: nbgrader's own mode stays
            self.log.warning("%s is not in the instructors' group; left as nbgrader made it",
                             folder)


c.ExchangeFactory.submit = SubmitPrivately
