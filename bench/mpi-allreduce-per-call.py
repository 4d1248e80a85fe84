# Open MPI's allreduce timed call by call, with its CPU and context switches per call: the
# counterpart of `rollcall bench allreduce --per-call N` (docs/benchmarks.md, 2026-12-07).
# run: mpirun --allow-run-as-root --oversubscribe -np 2 --mca btl tcp,self /usr/bin/python3 \
#        bench/mpi-allreduce-per-call.py BYTES CALLS
import sys, time, resource
import numpy as np
from mpi4py import MPI
comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
nbytes = int(sys.argv[1]); K = int(sys.argv[2])
a = np.ones(nbytes // 4, dtype=np.float32); b = np.empty_like(a)
for _ in range(200): comm.Allreduce(a, b, op=MPI.SUM)
comm.Barrier()
ts = []
r0 = resource.getrusage(resource.RUSAGE_SELF); w0 = time.perf_counter()
for _ in range(K):
    t = time.perf_counter(); comm.Allreduce(a, b, op=MPI.SUM); ts.append((time.perf_counter() - t) * 1e6)
wall = (time.perf_counter() - w0) / K * 1e6
r1 = resource.getrusage(resource.RUSAGE_SELF)
ts.sort(); q = lambda f: ts[int(f * (K - 1))]
if rank == 0:
    print(f"MPI p10 {q(.1):.0f} p25 {q(.25):.0f} p50 {q(.5):.0f} p90 {q(.9):.0f} mean {wall:.0f} cpu/call user {(r1.ru_utime-r0.ru_utime)/K*1e6:.0f} sys {(r1.ru_stime-r0.ru_stime)/K*1e6:.0f} vcs {(r1.ru_nvcsw-r0.ru_nvcsw)/K:.2f} ivcs {(r1.ru_nivcsw-r0.ru_nivcsw)/K:.2f}")
