"""The RQ side: the worker entry point and the job functions (which take ids)."""
