"""Real-browser tests of the course in JupyterLab (see conftest.py)."""
