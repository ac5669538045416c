"""A command run by distributed.run_on_all_ranks in which one rank returns an error status
while the other waits in a collective call; launched by tests/test_distributed.py.

    mpiexec -n 2 python tests/mpi_scripts/command.py STATUS

Rank 1 returns STATUS at once; rank 0 waits in a barrier that rank 1 never joins. The
job must end (with STATUS) within run_on_all_ranks's grace period, not hang.
"""

import argparse
import sys

from chainrule import distributed


def command(args, comm):
    if comm.Get_rank() == 1:
        print(f"rank 1: giving up with status {args.status}", file=sys.stderr)
        return args.status
    comm.Barrier()  # never completes: rank 1 does not come
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("status", type=int)
    args = parser.parse_args()
    return distributed.run_on_all_ranks(lambda comm: command(args, comm), grace=1.0)


if __name__ == "__main__":
    sys.exit(main())
