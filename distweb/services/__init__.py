"""Use cases. Each public function owns its transaction: it commits on success and rolls
back on failure, so a web request, a CLI command and an RQ job do the same thing the same way.
"""
