import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError as CliArgError } from 'commander';
import { benchAgainstMpi } from '../bench/against-mpi.js';
import type { CommTuning } from '../comm/communicator.js';
import { benchAllreduce, parseTuning } from '../bench/allreduce.js';
import { benchRecovery } from '../bench/recovery.js';
import { benchGeneration } from '../bench/generation.js';
import { benchScale, parseFaults } from '../bench/scale.js';
import { benchStateArms, type Compare } from '../bench/state-arms.js';
import { benchState, type StateBenchOptions } from '../bench/state-overhead.js';
import { benchStragglers, type StragglerBenchOptions } from '../bench/stragglers.js';
import { readEventLog, renderReport } from '../dashboard/report.js';
import { DEMO_DASHBOARD_LINGER_MS, runDemo } from '../demo/demo.js';
import { InvalidArgumentError, JobStoppedError, RollcallError } from '../errors.js';
import { readJobEvents, withRecoveries } from '../launch/job-events.js';
import { launch, stoppedExitCode } from '../launch/launcher.js';
import { runNode } from '../launch/node-runner.js';
import { openStore } from '../store/open-store.js';
import { readStoreAccess, storeFlags } from './store-flags.js';
import { DEFAULT_REPLICATE_MS, DEFAULT_VERSION_MS, MAX_NODES, MIN_HEARTBEAT_MS, SAFE_HEARTBEAT_MS, resolveLaunchOptions, timingWarnings } from '../launch/launch-options.js';
import { PROXY_KINDS } from '../protocol/program-ipc.js';
import { watchParent } from '../util/parent-watch.js';
import { STRAGGLER_ACTIONS } from '../protocol/fms-messages.js';

function intIn(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new CliArgError(`expected an integer from ${min} to ${max}, got "${v}"`);
    return n;
  };
}

function numberIn(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+(\.\d+)?$/.test(v) || n < min || n > max) throw new CliArgError(`expected a number from ${min} to ${max}, got "${v}"`);
    return n;
  };
}

function oneOf<T extends string>(values: readonly T[]) {
  return (v: string): T => {
    const t = values.find((x) => x === v);
    if (t === undefined) throw new CliArgError(`expected one of ${values.join(', ')}, got "${v}"`);
    return t;
  };
}

function sizeList(v: string): number[] {
  const out = v.split(',').map((s) => {
    const m = /^(\d+)([kKmM]?)$/.exec(s.trim());
    if (!m) throw new CliArgError(`"${s}" is not a size in bytes (e.g. 4096, 64k, 16m)`);
    const n = Number(m[1]) * (m[2] ? (m[2].toLowerCase() === 'k' ? 1024 : 1024 * 1024) : 1);
    if (n % 4 !== 0 || n > 1024 * 1024 * 1024) throw new CliArgError(`size ${s} must be a multiple of 4 bytes and at most 1 GiB`);
    return n;
  });
  return out;
}

/**
 * `rollcall launch --nodes 2 node train.js --steps 5` reads `--steps` as launch's own option: an
 * unknown option on a command that runs a program, with no `--` on the line, is most likely the
 * program's. Said before commander's help, which would otherwise bury the fix.
 */
function dashHint(message: string, argv: readonly string[]): string {
  const m = /unknown option '([^']+)'/.exec(message);
  const cmd = argv.find((a) => !a.startsWith('-'));
  if (!m || (cmd !== 'launch' && cmd !== 'node') || argv.includes('--')) return message;
  return (
    `${message.trimEnd()}\n` +
    `hint: if ${m[1]} is an option of your program, put -- before the program, so that everything after it is the program's:\n` +
    `      rollcall ${cmd} --nodes 2 [options] -- node train.js ${m[1]} ...\n`
  );
}

const program = new Command()
  .name('rollcall')
  .description('Keeps distributed jobs running through node faults.')
  .configureOutput({ outputError: (str, write) => write(dashHint(str, process.argv.slice(2))) })
  .showHelpAfterError()
  // Usage errors exit 2, as the flags validated by zod do; commander has printed the message.
  .exitOverride();

const bench = program.command('bench').description('measure Rollcall on this machine');

bench
  .command('allreduce')
  .description('allreduce latency and bandwidth over R local processes (float32 sum)')
  .option('--ranks <R>', 'number of rank processes, up to 64 (more than this machine\'s cores are oversubscribed: they share the cores)', intIn(1, 64), 2)
  .option('--sizes <list>', 'comma-separated message sizes in bytes', sizeList, sizeList('4096,65536,1048576,16777216'))
  .option('--repeats <n>', 'timed loops per size; the median is reported', intIn(1, 100), 5)
  .option('--timeout-ms <ms>', 'give up after this long', intIn(1000, 3_600_000), 600_000)
  .option('--spin-us <us>', 'busy-poll up to this long while waiting (default: the library\'s choice: 50 if every rank has a core; else 50 for collectives up to 16 KiB, yielding the core between polls)', intIn(0, 1_000_000))
  .option('--transport <t>', 'tcp (loopback) or unix (Unix domain sockets)', oneOf(['tcp', 'unix'] as const), 'tcp')
  .option('--json', 'one JSON object per line', false)
  .option('--warmup-ms <T>', 'warm up each size for up to 20,000 calls or 2 GB, and at most this long', intIn(0, 600_000), 20_000)
  .option('--per-call <n>', 'after the timed windows, time this many calls one by one: rank 0\'s quantiles, CPU and sleeps per call', intIn(1, 1_000_000))
  .option('--tuning <json>', 'communicator tuning fields instead of the library\'s choices, e.g. \'{"spinMaxBytes":262144}\' (for A/B runs)', (v: string) => {
    try {
      return parseTuning(v);
    } catch (e) {
      throw new CliArgError((e as Error).message);
    }
  })
  .option('--against-mpi <ranks>', 'instead: run Rollcall and Open MPI over TCP alternately for each comma-separated rank count (e.g. 2,4) and print medians and ratios', (v: string) => v.split(',').map((x) => intIn(1, 64)(x.trim())))
  .option('--runs <n>', 'with --against-mpi: interleaved runs of each arm', intIn(1, 100), 3)
  .option('--mpi-script <path>', 'with --against-mpi: the anchors\' mpi4py script', '../shared/anchors/mpi_allreduce.py')
  .option('--mpirun <cmd>', 'with --against-mpi: Open MPI\'s launcher', 'mpirun')
  .addHelpText('after', '\nThis machine has few cores: with more ranks than cores (up to 64 are allowed) the ranks are oversubscribed and share them, as Open MPI\'s --oversubscribe does.')
  .action(async (o: { ranks: number; sizes: number[]; repeats: number; json: boolean; timeoutMs: number; spinUs?: number; warmupMs: number; perCall?: number; tuning?: Partial<CommTuning>; againstMpi?: number[]; runs: number; mpiScript: string; mpirun: string; transport: 'tcp' | 'unix' }) => {
    if (o.againstMpi) {
      await benchAgainstMpi(
        { rankCounts: o.againstMpi, sizes: o.sizes, runs: o.runs, repeats: o.repeats, timeoutMs: o.timeoutMs, warmupMs: o.warmupMs, json: o.json, mpiScript: o.mpiScript, python: '/usr/bin/python3', mpirun: o.mpirun },
        (l) => console.log(l),
      );
      return;
    }
    await benchAllreduce(o, (l) => console.log(l));
  });

bench
  .command('recovery')
  .description('time from a fault to every surviving program running again, per mode and fault kind')
  .option('--samples <n>', 'faults (one job each) per mode and kind; the median is reported', intIn(1, 100), 5)
  .option('--modes <list>', 'comma-separated: replace, shrink, restart', (v: string) => v.split(',').map((s) => s.trim()), ['replace', 'shrink', 'restart'])
  .option('--faults <list>', 'comma-separated: kill (SIGKILL), stop (SIGSTOP hang)', (v: string) => v.split(',').map((s) => s.trim()), ['kill', 'stop'])
  .option('--nodes <N>', 'nodes per job', intIn(2, 64), 4)
  .option('--spares <S>', 'spares per job', intIn(1, 64), 1)
  .option('--heartbeat-ms <H>', 'heartbeat interval', intIn(10, 10_000), 200)
  .option('--load-ms <ms>', 'then run a fault-free job this long with every core busy and count false detections (0: skip)', intIn(0, 600_000), 0)
  .option('--state', 'run a training loop that commits its state every step: the recovery includes the rollback', false)
  .option('--store <url>', 'also run every sample with the runtime environment in this etcd (etcd://host:port[,...]), interleaved with the embedded store')
  .option('--json', 'one JSON object per line', false)
  .action(async (o: { samples: number; modes: string[]; faults: string[]; nodes: number; spares: number; heartbeatMs: number; loadMs: number; state: boolean; store?: string; json: boolean }) => {
    for (const m of o.modes) if (!['replace', 'shrink', 'restart'].includes(m)) throw new CliArgError(`--modes: unknown mode "${m}" (replace, shrink, restart)`);
    for (const f of o.faults) if (!['kill', 'stop'].includes(f)) throw new CliArgError(`--faults: unknown fault "${f}" (kill, stop)`);
    await benchRecovery(
      { ...o, modes: o.modes as ('replace' | 'shrink' | 'restart')[], faults: o.faults as ('kill' | 'stop')[] },
      (l) => console.log(l),
    );
  });

bench
  .command('generation')
  .description('time for a new generation\'s communicator to be usable: every rank builds it and runs a first allreduce (R local processes)')
  .option('--ranks <list>', 'comma-separated rank counts, one run each', (v: string) => v.split(',').map((x) => intIn(1, 256)(x.trim())), [4, 16, 64])
  .option('--samples <n>', 'generations timed per run (after a first one); the median is reported', intIn(1, 100), 5)
  .option('--via <how>', 'listener: each node\'s one listener and cached addresses (the runtime); store: createCommunicator() per generation', oneOf(['listener', 'store'] as const), 'listener')
  .option('--transport <t>', 'with --via listener: unix (ranks on this host reach each other at their nodes\' Unix domain sockets, the runtime\'s way) or tcp (loopback TCP only)', oneOf(['tcp', 'unix'] as const), 'unix')
  .option('--bytes <B>', 'size of the first allreduce', (v: string) => sizeList(v)[0] as number, 4096)
  .option('--timeout-ms <ms>', 'give up on a rank count after this long', intIn(1000, 3_600_000), 600_000)
  .option('--json', 'one JSON object per line', false)
  .action(async (o: { ranks: number[]; samples: number; via: 'listener' | 'store'; transport: 'tcp' | 'unix'; bytes: number; timeoutMs: number; json: boolean }) => {
    await benchGeneration(o, (l) => console.log(l));
  });

bench
  .command('state')
  .description('step time of an allreduce + commit loop under Rollcall against the bare library, and the cost of a commit')
  .option('--ranks <R>', 'processes (above the cores, oversubscribed: compare shares of CPU, not step times)', intIn(1, 64), 2)
  .option('--bytes <B>', 'gradient and state size', (v: string) => sizeList(v)[0] as number, 4 << 20)
  .option('--steps <n>', 'timed steps per run (at the defaults about 4 s: replicas and a file fall in it as they do in a long run)', intIn(10, 100_000), 600)
  .option('--warmup <n>', 'steps run before the timed ones, to leave start-up (threads loading, the JIT, the intervals being chosen) out', intIn(0, 100_000), 300)
  .option('--warmup-ms <T>', 'and warm up for at least this long (0: no floor): each of the program\'s worker threads is a V8 isolate of its own, with start-up GCs some 8 and 17 s in and a JIT to settle', intIn(0, 600_000), 20_000)
  .option('--rounds <n>', 'bare/Rollcall runs, alternating', intIn(1, 20), 3)
  .option('--persist-every <N>', 'as for launch (default: every 10th replicated version)', intIn(1, 1_000_000))
  .option('--replicate-every <N>', 'as for launch (default: chosen from the step time)', intIn(1, 1_000_000))
  .option('--replicate-ms <T>', 'as for launch', intIn(1, 3_600_000))
  .option('--version-every <N>', 'as for launch (default: chosen from the step time)', intIn(1, 1_000_000))
  .option('--version-ms <T>', 'as for launch', intIn(1, 3_600_000))
  .option('--proxy <where>', 'as for launch: inline | thread', oneOf(PROXY_KINDS), 'inline')
  .option('--dashboard', 'also run the Rollcall loop with the live dashboard on (a page and a Prometheus scrape polling it) and report its cost', false)
  .option('--verify-every <N>', 'as for launch (default: chosen from the step time)', intIn(0, 1_000_000))
  .option('--replicas <K>', 'as for launch', intIn(1, 8))
  .option('--replicated', 'the program declares its weights replicated (the members compare digests)', false)
  .option('--compare <what>', 'instead: two Rollcall arms interleaved, and the CPU one costs beyond the other: verify (digests compared at the default cadence, or never) | replicas (to 2 peers, or 1; 3 ranks or more; with the second peer\'s stream counted in B\'s keepers) | same (A/A, both --replicas 1: the noise floor of the difference)', oneOf(['verify', 'replicas', 'same'] as const))
  .option('--json', 'one JSON object', false)
  .action(async (o: StateBenchOptions & { compare?: Compare }) => {
    if (o.compare) await benchStateArms(o, o.compare, (l) => console.log(l));
    else await benchState(o, (l) => console.log(l));
  });

function fraction(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n >= 1) throw new CliArgError(`expected a probability from 0 to below 1 (0.01 is 1 %), got "${v}"`);
  return n;
}

function msIn(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new CliArgError(`expected milliseconds from ${min} to ${max}, got "${v}"`);
    return n;
  };
}

bench
  .command('scale')
  .description('a job of N nodes simulated in this process: the real FMS code on a fake clock, an in-memory network, one memory store; crashes and partitions')
  .requiredOption('--nodes <N>', 'members', intIn(2, MAX_NODES))
  .option('--spares <S>', 'spares (default: none, so a crash shrinks the job)', intIn(0, MAX_NODES), 0)
  .option('--loss <P>', 'probability an FMS-to-FMS datagram is lost', fraction, 0)
  .option('--latency-ms <L>', 'one-way datagram delay', msIn(0, 10_000), 1)
  .option('--jitter-ms <J>', 'plus a uniform random delay up to this', msIn(0, 10_000), 0)
  .option('--faults <spec>', 'crash:K,partition:K, spread evenly over the simulated minutes', 'crash:1')
  .option('--partition-ms <T>', 'how long a partition lasts', intIn(1, 3_600_000), 3000)
  .option('--partition-size <n>', 'nodes cut off together in one partition', intIn(1, MAX_NODES), 1)
  .option('--minutes <M>', 'simulated minutes measured (after the start-up)', (v: string) => msIn(0.01, 10_000)(v), 1)
  .option('--watchers <K>', 'FMSes watching each node (passed to the FMS configuration)', intIn(1, 64))
  .option('--heartbeat-ms <H>', 'heartbeat interval', intIn(10, 60_000), 200)
  .option('--fault-timeout-ms <T>', 'as for launch (default: 3 heartbeats)', intIn(20, 600_000))
  .option('--seed <S>', 'seed of losses, delays and victims', intIn(0, 2 ** 31), 1)
  .option('--runs <R>', 'runs, with seeds S, S+1, ...', intIn(1, 100), 1)
  .option('--budget-s <s>', 'give up (an error) if a run takes longer than this in real seconds', intIn(1, 1_000_000))
  .option('--wire', 'round-trip every datagram through the HMAC/JSON/zod codec, as the UDP endpoint does (slower; adds bytes per node)', false)
  .option('--json', 'one JSON object per run', false)
  .option('--progress', 'also the figures so far after each simulated minute, one JSON object a line on stderr ("partial": true)', false)
  .action(
    async (o: {
      nodes: number;
      spares: number;
      loss: number;
      latencyMs: number;
      jitterMs: number;
      faults: string;
      partitionMs: number;
      partitionSize: number;
      minutes: number;
      watchers?: number;
      heartbeatMs: number;
      faultTimeoutMs?: number;
      seed: number;
      runs: number;
      wire: boolean;
      json: boolean;
      budgetS?: number;
      progress: boolean;
    }) => {
      const { crashes, partitions } = parseFaults(o.faults);
      const { progress, ...rest } = o;
      await benchScale(
        {
          ...rest,
          crashes,
          partitions,
          realBudgetMs: o.budgetS === undefined ? undefined : o.budgetS * 1000,
          progress: progress ? (r) => console.error(JSON.stringify(r)) : undefined,
        },
        (l) => console.log(l),
      );
    },
  );

bench
  .command('stragglers')
  .description("false stragglers in fault-free runs of the demo's workload, and the time to replace a node slowed on purpose")
  .option('--runs <n>', 'fault-free runs: every straggler declared or reported is a false positive', intIn(0, 1000), 20)
  .option('--slow-runs <n>', 'then runs with node 1 slowed (--chaos slow) from a fifth of the way', intIn(0, 100), 0)
  .option('--nodes <N>', 'nodes (and one spare)', intIn(2, 16), 4)
  .option('--steps <n>', "steps per run (default: the demo's)", intIn(10, 1_000_000))
  .option('--window-ms <T>', 'as --straggler-window-ms', intIn(500, 86_400_000), 30_000)
  .option('--factor <F>', 'as --straggler-factor', numberIn(1.1, 100), 1.5)
  .option('--slow-factor <F>', 'as --chaos-slow-factor', numberIn(1.1, 20), 3)
  .option('--json', 'one JSON object per line', false)
  .action(async (o: StragglerBenchOptions) => {
    await benchStragglers(o, (l) => console.log(l));
  });

program
  .command('demo')
  .description('the main job: Fashion-MNIST training on 4 nodes + 1 spare, a crash, and the recovery, live')
  .option('--nodes <N>', 'nodes', intIn(2, 16), 4)
  .option('--spares <S>', 'warm spares', intIn(1, 16), 1)
  .option('--steps <n>', 'training steps (default: two epochs of Fashion-MNIST, or 600 steps of the synthetic set)', intIn(10, 1_000_000))
  .option('--crash-at <step>', 'kill node 2\'s program at this step (0: no fault; default: 40 % of the way)', intIn(0, 1_000_000))
  .option('--synthetic', 'use the generated data set even if Fashion-MNIST is installed', false)
  .option('--verify', 'run the job again without the fault and compare the final digests', false)
  .option('--events <file>', 'write the event log (JSON lines) to this file')
  .option('--dashboard <[host:]port>', 'watch the job live in a browser (and Prometheus /metrics) at this address')
  .option('--dashboard-linger-ms <T>', 'with --dashboard: keep serving the final view and /metrics this long after the job (Ctrl-C closes it sooner)', intIn(0, 86_400_000), DEMO_DASHBOARD_LINGER_MS)
  .option('--report <file>', 'write an HTML report of the run (the plot, the recoveries, the summary)')
  .option('--json', 'print the summary as one JSON object', false)
  .action(async (o: { nodes: number; spares: number; steps?: number; crashAt?: number; synthetic: boolean; verify: boolean; events?: string; dashboard?: string; dashboardLingerMs: number; report?: string; json: boolean }) => {
    const stop = stopOnSignals();
    const s = await runDemo({ ...o, steps: o.steps, crashAt: o.crashAt, events: o.events, dashboard: o.dashboard, report: o.report, stopSignal: stop.signal }, (l) => console.log(l), process.stderr);
    if (s.match === false) process.exitCode = 1;
  });

/** Flags that describe the job, the same on `launch` and on every host's `rollcall node`. */
function jobFlags(cmd: Command): Command {
  return cmd
    .requiredOption('--nodes <N>', `nodes (programs) in the job, up to ${MAX_NODES} with the spares (on one machine, as memory allows)`, intIn(1, MAX_NODES))
    .option('--spares <S>', 'warm spare nodes, brought in on a fault', intIn(0, MAX_NODES), 0)
    .option('--min-nodes <M>', 'stop the job if fewer members than this remain', intIn(1, MAX_NODES))
    .option('--on-fault <mode>', 'replace (default with spares) | shrink (default without) | restart (the torchrun baseline)')
    .option('--events <file>', 'write the event log (JSON lines) to this file')
    .option('--heartbeat-ms <H>', `heartbeat interval of FMSes and programs (at least ${MIN_HEARTBEAT_MS}; under ${SAFE_HEARTBEAT_MS} warns)`, intIn(MIN_HEARTBEAT_MS, 60_000), 200)
    .option('--watchers <K>', 'FMSes each FMS watches (its successors on a ring of the live nodes); each node is watched by K', intIn(1, 64), 3)
    .option('--fault-timeout-ms <T>', 'silence after which a node or program is declared failed (default 3 x heartbeat)', intIn(20, 600_000))
    .option('--start-timeout-ms <T>', 'how long a program may take to start and connect, and every node to arrive', intIn(100, 3_600_000), 30_000)
    .option('--state-dir <dir>', 'where nodes persist committed state versions (default: a temporary directory)')
    .option('--keep <K>', 'committed versions each node keeps', intIn(1, 100), 3)
    .option('--version-every <N>', 'make a version of every Nth commit (the same commits on every node; 1: every commit; default: chosen from the step time)', intIn(1, 1_000_000))
    .option('--version-ms <T>', `choose the version interval so that versions are at least T ms apart, further if a version costs over 0.25 % of that (default ${DEFAULT_VERSION_MS})`, intIn(1, 3_600_000))
    .option('--replicate-every <N>', "copy the version of every Nth commit to the next node's memory (the same on every node; default: chosen from the step time)", intIn(1, 1_000_000))
    .option('--replicate-ms <T>', `choose the replica interval so that replicas are about T ms apart (default ${DEFAULT_REPLICATE_MS})`, intIn(1, 3_600_000))
    .option('--persist-every <N>', 'write the version of every Nth commit to the state directory (the same on every node; default: every 10th replica)', intIn(1, 1_000_000))
    .option('--verify-every <N>', "compare the digests of the state declared replicated at every Nth commit, to catch silent data corruption (0: never; default: chosen from the step time so that it costs at most 0.25 %)", intIn(0, 1_000_000))
    .option('--replicas <K>', "copy each node's versions to the next K nodes' memory (default 2: any two nodes can fail at once)", intIn(1, 8), 2)
    .option('--proxy <where>', "where each node's communication proxy runs: inline (on the program's thread) | thread (a worker thread)", 'inline')
    .option('--dashboard <[host:]port>', 'serve a live dashboard and Prometheus /metrics here (default host: loopback)')
    .option('--straggler-factor <F>', "a member whose compute time per step stays above F times the members' median is a straggler", numberIn(1.1, 100), 1.5)
    .option('--straggler-window-ms <T>', '...for this long', intIn(500, 86_400_000), 30_000)
    .option('--on-straggler <mode>', 'replace (by a spare; with none left, report) | report | shrink (also without a spare, if --min-nodes allows)', oneOf(STRAGGLER_ACTIONS), 'replace')
    .option('--quiet', 'no progress lines on stderr', false);
}

/**
 * SIGINT, SIGTERM and SIGHUP stop the run cleanly: the programs are ended and the exit code says
 * by what (128 + the signal's number). So does the death of whatever started this process: `npx`,
 * `npm exec` and a shell die of a SIGTERM without passing it on, and a scheduler or a container
 * runtime signals only the process it started; without this the job would run on, orphaned.
 * That case exits as a SIGHUP would (129): the launcher lost its controlling parent.
 */
function stopOnSignals(): AbortController {
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => stop.abort(`stopped by ${sig}`);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal);
  const unwatch = watchParent((ppid) => stop.abort(`stopped by SIGHUP: the process that started rollcall (pid ${ppid}) exited`));
  stop.signal.addEventListener('abort', unwatch, { once: true });
  return stop;
}

storeFlags(jobFlags(
  program
    .command('launch')
    .description('run a job on this machine: an FMS and a program per node, recovering from faults')
    .usage('--nodes N [options] -- <program command...>'),
))
  .option('--chaos <spec>', 'inject faults, e.g. kill:node=2@step=30,stop:node=1@t=5s,kill-node:node=3@step=50,kill:random@every=10s,slow:node=1@step=40,corrupt:node=2@step=60')
  .option('--dashboard-linger-ms <T>', 'with --dashboard: keep serving the final view and /metrics this long after the job ended (Ctrl-C closes it sooner)', intIn(0, 86_400_000), 0)
  .option('--chaos-slow-factor <F>', 'how much slower `slow` chaos makes a program (each stretch of its computing followed by a stall of F - 1 times its length)', numberIn(1.1, 20), 3)
  .option('--job <id>', 'job id (default: random)')
  .option('--resume <dir>', 'continue a stopped job from the newest common state in this state directory')
  .option('--store <url>', 'keep the runtime environment in etcd: etcd://host:port[,host:port...], or etcds://... over TLS (default: a store embedded in the launcher)')
  .argument('<command...>', 'the program to run on every node')
  .action(async (command: string[], o: Record<string, unknown>) => {
    const opts = { ...resolveLaunchOptions({ ...o, command } as Parameters<typeof resolveLaunchOptions>[0]), storeAccess: readStoreAccess(o) };
    // Shown with --quiet too: it is about whether the job's faults will be real.
    for (const w of timingWarnings(opts)) console.error(`rollcall: warning: ${w}`);
    const stop = stopOnSignals();
    const r = await launch(opts, { log: (l) => console.error(`[rollcall] ${l}`), stopSignal: stop.signal });
    if (r.outcome === 'completed') console.log(JSON.stringify({ result: r.result ?? null }));
    process.exitCode = r.exitCode;
  });

storeFlags(jobFlags(
  program
    .command('node')
    .description("run this host's node of a job that spans hosts: its FMS and program, meeting the others in the store")
    .usage('--store URL --job ID --node N --nodes N [options] -- <program command...>'),
))
  .requiredOption('--store <url>', 'the shared store: etcd://host:port[,host:port...], or etcds://... over TLS')
  .requiredOption('--job <id>', 'job id, the same on every host')
  .requiredOption('--node <N>', "this host's node id: 0..nodes-1 are members, the rest spares", intIn(0, MAX_NODES - 1))
  .option('--host <addr>', 'address every socket of this node binds to and advertises (default: all interfaces, advertising this host\'s first address)', '0.0.0.0')
  .option('--secret-file <file>', 'the job secret, the same on every host (default: $ROLLCALL_SECRET)')
  .argument('<command...>', 'the program to run on this node')
  .action(async (command: string[], o: Record<string, unknown>) => {
    const { store, node, host, secretFile, ...rest } = o as { store: string; node: number; host: string; secretFile?: string } & Record<string, unknown>;
    const storeAccess = readStoreAccess(o);
    const opts = resolveLaunchOptions({ ...rest, command } as Parameters<typeof resolveLaunchOptions>[0]);
    for (const w of timingWarnings(opts)) console.error(`rollcall: warning: ${w}`);
    const secret = readSecret(secretFile);
    const stop = stopOnSignals();
    const r = await runNode(
      { job: { ...opts, job: opts.job as string }, node, store, storeAccess, host, secret, stateDir: opts.stateDir ?? join(tmpdir(), `rollcall-${opts.job as string}-node${node}`) },
      { log: (l) => console.error(`[rollcall node ${node}] ${l}`), stopSignal: stop.signal },
    );
    if (r.outcome === 'completed') console.log(JSON.stringify({ result: r.result ?? null }));
    else console.error(`rollcall: node ${node} ${r.outcome}: ${r.reason}`);
    process.exitCode = r.exitCode;
  });

program
  .command('report')
  .description('one self-contained HTML page from an event log: steps over time with every fault and recovery, the recoveries, the summary')
  .argument('<events.jsonl>', 'the event log (rollcall launch --events, rollcall demo --events, or rollcall events > file)')
  .requiredOption('-o, --output <file>', 'where to write the HTML')
  .action((file: string, o: { output: string }) => {
    let read;
    try {
      read = readEventLog(file);
    } catch (e) {
      throw new InvalidArgumentError(`${file}: ${(e as Error).message}`);
    }
    for (const b of read.bad) console.error(`rollcall report: ${file}:${b.line}: skipped: ${b.error}`);
    if (read.events.length === 0) throw new InvalidArgumentError(`${file}: no events in it`);
    writeFileSync(o.output, renderReport(read.events));
    console.error(`rollcall report: ${read.events.length} event(s)${read.bad.length ? `, ${read.bad.length} bad line(s) skipped` : ''} -> ${o.output}`);
  });

storeFlags(
  program
    .command('events')
    .description("print a job's event log, merged from every node's events in the store (JSON lines, in time order)")
    .requiredOption('--store <url>', 'the shared store: etcd://host:port[,host:port...], or etcds://... over TLS')
    .requiredOption('--job <id>', 'job id'),
)
  .action(async (o: { store: string; job: string }) => {
    const store = await openStore(o.store, { access: readStoreAccess(o) });
    try {
      const { events, bad } = await readJobEvents(store, o.job);
      for (const e of withRecoveries(events)) console.log(JSON.stringify(e));
      for (const b of bad) console.error(`rollcall events: ${b.key}: ${b.error}`);
      if (events.length === 0) console.error(`rollcall events: no events of job ${o.job} in ${o.store}`);
    } finally {
      await store.close();
    }
  });

/** The job secret, from a file (trailing newline dropped) or the environment; refused if absent or short. */
function readSecret(file: string | undefined): string {
  let secret: string | undefined;
  if (file !== undefined) {
    try {
      secret = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new InvalidArgumentError(`--secret-file ${file}: ${(e as Error).message}`);
    }
  } else secret = process.env.ROLLCALL_SECRET;
  if (secret === undefined || secret === '') throw new InvalidArgumentError('no job secret: give --secret-file FILE or set ROLLCALL_SECRET (the same on every host)');
  if (secret.length < 16) throw new InvalidArgumentError('the job secret is shorter than 16 characters; use a random one, e.g. openssl rand -hex 32');
  return secret;
}

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 2);
  if (e instanceof JobStoppedError) {
    console.error(`rollcall: ${e.message}`);
    process.exit(stoppedExitCode(e.message));
  }
  if (e instanceof RollcallError && e.code === 'ERR_INVALID_ARGUMENT') {
    console.error(`rollcall: ${e.message}`);
    process.exit(2);
  }
  if (e instanceof RollcallError) console.error(`rollcall: ${e.code}: ${e.message}`);
  else console.error(`rollcall: ${(e as Error)?.message ?? String(e)}`);
  process.exit(1);
});
