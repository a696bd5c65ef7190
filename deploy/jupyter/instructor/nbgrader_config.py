"""nbgrader settings for instructors: the course's own nbgrader_config.py.

The formgrader and every nbgrader command an instructor runs read the course folder
(ASYNCIO_COURSE, set by jupyterhub_config.py): its solutions, release, grading folders,
gradebook and grading preprocessors. The common settings (exchange, course id) come first.

jupyter_server_config.json beside this file lets JupyterLab show the formgrader: it opens
it in a frame, which the hub's servers forbid by default (frame-ancestors 'none').
"""

import os

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

load_subconfig(os.path.join(os.environ["ASYNCIO_COURSE"], "nbgrader_config.py"))  # noqa: F821
