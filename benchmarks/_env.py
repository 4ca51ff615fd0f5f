"""What both benchmarks share: their options, and the machine and library versions they print first."""

import argparse
import os
import platform

import numpy as np
from threadpoolctl import threadpool_info


def parse_arguments(doc):
    """The options both benchmarks take: --quick and --threads; the description is doc's first
    paragraph."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a rough look)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for ours (BLAS limit) and torch; default torch's default")
    return parser.parse_args()


def describe_environment(torch, threads):
    """One line of versions and threads, then any environment variable that changes BLAS speed."""
    blas = ", ".join(f"{info['internal_api']} {info['version']}"
                     for info in threadpool_info() if info["user_api"] == "blas")
    print(f"python {platform.python_version()}, numpy {np.__version__} ({blas}),"
          f" torch {torch.__version__ if torch is not None else 'not installed'}; {os.cpu_count()} cpus,"
          f" {threads} threads for ours and torch")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT",
                "OMP_NUM_THREADS"):
        if var in os.environ:
            print(f"  {var}={os.environ[var]}")


def load_line():
    """The machine's load averages (1, 5, 15 min), to print next to every table."""
    if not hasattr(os, "getloadavg"):
        return "load average: unknown"
    return "load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg())
