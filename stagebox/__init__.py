"""stagebox: a backing-track player for the stage, run by buttons alone."""

__version__ = "0.1.0"

ONE_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
"""The environment every stagebox process runs numpy in, set before numpy is imported:
its BLAS would otherwise start a thread per core for arrays far too small to share out,
and a process with one thread can fork its decoder launcher."""
