"""A Dask cluster on a SLURM machine for alflow's scoring pass (dask-jobqueue).

    pip install dask-jobqueue          # on the login node, in alflow's environment
    python infra/hpc/slurm_cluster.py --jobs 8 --queue compute --account myproj

Starts a scheduler here (the login node) and submits ``--jobs`` batch jobs, each one Dask worker
process with ``--cores`` threads; prints the scheduler address and keeps the cluster up until
interrupted. Point alflow at it from any shell on the cluster network:

    export ALFLOW__COMPUTE__SCHEDULER_ADDRESS=tcp://<printed address>
    alflow round

Workers must see the same Python environment (a shared filesystem) and the pool (a shared path
or object storage).
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    from dask_jobqueue import SLURMCluster  # installed on the HPC side only

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--cores", type=int, default=8)
    ap.add_argument("--memory", default="32GB")
    ap.add_argument("--walltime", default="04:00:00")
    ap.add_argument("--queue", default=None)
    ap.add_argument("--account", default=None)
    ap.add_argument("--port", type=int, default=8786)
    args = ap.parse_args()
    cluster = SLURMCluster(
        cores=args.cores,
        processes=1,  # one worker per job, threads share the memory of the partition it reads
        memory=args.memory,
        walltime=args.walltime,
        queue=args.queue,
        account=args.account,
        scheduler_options={"port": args.port, "dashboard_address": ":8787"},
        job_extra_directives=["--exclusive"] if args.cores >= 16 else [],
    )
    cluster.scale(jobs=args.jobs)
    print(cluster.job_script())
    print(f"scheduler: {cluster.scheduler_address}")
    try:
        while True:
            time.sleep(60)
    except KeyboardInterrupt:
        cluster.close()


if __name__ == "__main__":
    main()
