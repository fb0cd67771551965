#!/bin/sh
# A nin sweep as a Slurm job array: one array task per trial, at most 8 at once, on a directory every
# node sees (a cluster file system). Submit with the array size the space holds (nin sweep report DIR
# prints it; a grid's product, or "trials"):
#   sbatch --array=0-63%8 docs/sweep/slurm-sweep.sh
# Each task runs trial $SLURM_ARRAY_TASK_ID with as many threads as CPUs it was given. A task whose trial
# has ended, or is being run by another live task on the same node, exits 0 at once; one held from
# another node is waited for until it ends or its lock is 10 minutes old (a node that died), then resumed.
# A task killed mid-trial (preemption, a node lost) leaves last/ behind: the requeued task resumes it. The first tasks create the sweep directory from the space file; later ones check it is
# the same space (another space: exit 2).
#SBATCH --job-name=nin-sweep
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --output=sweeps/x-logs/%A_%a.out
#SBATCH --requeue
set -eu
exec nin sweep run sweeps/x-space.json --dir sweeps/x --threads "$SLURM_CPUS_PER_TASK"
