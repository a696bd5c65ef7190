"""Process start-up for the grading commands and their workers.

jsonschema registers an "iri" format checker when ``rfc3987_syntax`` is installed, and
importing that module builds a grammar: about 1.3 s of CPU in every process that imports
nbformat. Neither nbformat nor nbgrader checks string formats, so our processes skip it.
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)
