import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError as CliArgError } from 'commander';
import { benchAllreduce } from '../bench/allreduce.js';
import { benchRecovery } from '../bench/recovery.js';
import { benchStateArms, type Compare } from '../bench/state-arms.js';
import { benchState, type StateBenchOptions } from '../bench/state-overhead.js';
import { readEventLog, renderReport } from '../dashboard/report.js';
import { runDemo } from '../demo/demo.js';
import { InvalidArgumentError, RollcallError } from '../errors.js';
import { readJobEvents, withRecoveries } from '../launch/job-events.js';
import { launch } from '../launch/launcher.js';
import { runNode } from '../launch/node-runner.js';
import { openStore } from '../store/open-store.js';
import { DEFAULT_REPLICATE_MS, DEFAULT_VERSION_MS, resolveLaunchOptions } from '../launch/launch-options.js';
import { PROXY_KINDS } from '../protocol/program-ipc.js';

function intIn(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new CliArgError(`expected an integer from ${min} to ${max}, got "${v}"`);
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

const program = new Command()
  .name('rollcall')
  .description('Keeps distributed jobs running through node faults.')
  .showHelpAfterError()
  // Usage errors exit 2, as the flags validated by zod do; commander has printed the message.
  .exitOverride();

const bench = program.command('bench').description('measure Rollcall on this machine');

bench
  .command('allreduce')
  .description('allreduce latency and bandwidth over R local processes (float32 sum)')
  .option('--ranks <R>', 'number of rank processes', intIn(1, 64), 2)
  .option('--sizes <list>', 'comma-separated message sizes in bytes', sizeList, sizeList('4096,65536,1048576,16777216'))
  .option('--repeats <n>', 'timed loops per size; the median is reported', intIn(1, 100), 5)
  .option('--timeout-ms <ms>', 'give up after this long', intIn(1000, 3_600_000), 600_000)
  .option('--spin-us <us>', 'busy-poll up to this long while waiting (default: the library\'s choice: 50 if every rank has a core; else 50 for collectives up to 16 KiB, yielding the core between polls)', intIn(0, 1_000_000))
  .option('--json', 'one JSON object per line', false)
  .action(async (o: { ranks: number; sizes: number[]; repeats: number; json: boolean; timeoutMs: number; spinUs?: number }) => {
    await benchAllreduce(o, (l) => console.log(l));
  });

bench
  .command('recovery')
  .description('time from a fault to every surviving program running again, per mode and fault kind')
  .option('--samples <n>', 'faults (one job each) per mode and kind; the median is reported', intIn(1, 100), 5)
  .option('--modes <list>', 'comma-separated: replace, shrink, restart', (v: string) => v.split(',').map((s) => s.trim()), ['replace', 'shrink', 'restart'])
  .option('--faults <list>', 'comma-separated: kill (SIGKILL), stop (SIGSTOP hang)', (v: string) => v.split(',').map((s) => s.trim()), ['kill', 'stop'])
  .option('--nodes <N>', 'nodes per job', intIn(2, 16), 4)
  .option('--spares <S>', 'spares per job', intIn(1, 16), 1)
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
  .command('state')
  .description('step time of an allreduce + commit loop under Rollcall against the bare library, and the cost of a commit')
  .option('--ranks <R>', 'processes', intIn(1, 16), 2)
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
  .option('--compare <what>', 'instead: two Rollcall arms interleaved, and the CPU one costs beyond the other: verify (digests compared at the default cadence, or never) | replicas (to 2 peers, or 1; 3 ranks or more)', oneOf(['verify', 'replicas'] as const))
  .option('--json', 'one JSON object', false)
  .action(async (o: StateBenchOptions & { compare?: Compare }) => {
    if (o.compare) await benchStateArms(o, o.compare, (l) => console.log(l));
    else await benchState(o, (l) => console.log(l));
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
  .option('--report <file>', 'write an HTML report of the run (the plot, the recoveries, the summary)')
  .option('--json', 'print the summary as one JSON object', false)
  .action(async (o: { nodes: number; spares: number; steps?: number; crashAt?: number; synthetic: boolean; verify: boolean; events?: string; dashboard?: string; report?: string; json: boolean }) => {
    const s = await runDemo({ ...o, steps: o.steps, crashAt: o.crashAt, events: o.events, dashboard: o.dashboard, report: o.report }, (l) => console.log(l), process.stderr);
    if (s.match === false) process.exitCode = 1;
  });

/** Flags that describe the job, the same on `launch` and on every host's `rollcall node`. */
function jobFlags(cmd: Command): Command {
  return cmd
    .requiredOption('--nodes <N>', 'nodes (programs) in the job', intIn(1, 64))
    .option('--spares <S>', 'warm spare nodes, brought in on a fault', intIn(0, 64), 0)
    .option('--min-nodes <M>', 'stop the job if fewer members than this remain', intIn(1, 64))
    .option('--on-fault <mode>', 'replace (default with spares) | shrink (default without) | restart (the torchrun baseline)')
    .option('--events <file>', 'write the event log (JSON lines) to this file')
    .option('--heartbeat-ms <H>', 'heartbeat interval of FMSes and programs', intIn(10, 60_000), 200)
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
    .option('--quiet', 'no progress lines on stderr', false);
}

/** SIGINT/SIGTERM stop the run cleanly: the programs are ended and the exit code says by what. */
function stopOnSignals(): AbortController {
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => stop.abort(`stopped by ${sig}`);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return stop;
}

jobFlags(
  program
    .command('launch')
    .description('run a job on this machine: an FMS and a program per node, recovering from faults')
    .usage('--nodes N [options] -- <program command...>'),
)
  .option('--chaos <spec>', 'inject faults, e.g. kill:node=2@step=30,stop:node=1@t=5s,kill-node:node=3@step=50,kill:random@every=10s,corrupt:node=1@step=40')
  .option('--job <id>', 'job id (default: random)')
  .option('--resume <dir>', 'continue a stopped job from the newest common state in this state directory')
  .option('--store <url>', 'keep the runtime environment in etcd: etcd://host:port[,host:port...] (default: a store embedded in the launcher)')
  .argument('<command...>', 'the program to run on every node')
  .action(async (command: string[], o: Record<string, unknown>) => {
    const opts = resolveLaunchOptions({ ...o, command } as Parameters<typeof resolveLaunchOptions>[0]);
    const stop = stopOnSignals();
    const r = await launch(opts, { log: (l) => console.error(`[rollcall] ${l}`), stopSignal: stop.signal });
    if (r.outcome === 'completed') console.log(JSON.stringify({ result: r.result ?? null }));
    process.exitCode = r.exitCode;
  });

jobFlags(
  program
    .command('node')
    .description("run this host's node of a job that spans hosts: its FMS and program, meeting the others in the store")
    .usage('--store URL --job ID --node N --nodes N [options] -- <program command...>'),
)
  .requiredOption('--store <url>', 'the shared store: etcd://host:port[,host:port...]')
  .requiredOption('--job <id>', 'job id, the same on every host')
  .requiredOption('--node <N>', "this host's node id: 0..nodes-1 are members, the rest spares", intIn(0, 127))
  .option('--host <addr>', 'address every socket of this node binds to and advertises (default: all interfaces, advertising this host\'s first address)', '0.0.0.0')
  .option('--secret-file <file>', 'the job secret, the same on every host (default: $ROLLCALL_SECRET)')
  .argument('<command...>', 'the program to run on this node')
  .action(async (command: string[], o: Record<string, unknown>) => {
    const { store, node, host, secretFile, ...rest } = o as { store: string; node: number; host: string; secretFile?: string } & Record<string, unknown>;
    const opts = resolveLaunchOptions({ ...rest, command } as Parameters<typeof resolveLaunchOptions>[0]);
    const secret = readSecret(secretFile);
    const stop = stopOnSignals();
    const r = await runNode(
      { job: { ...opts, job: opts.job as string }, node, store, host, secret, stateDir: opts.stateDir ?? join(tmpdir(), `rollcall-${opts.job as string}-node${node}`) },
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

program
  .command('events')
  .description("print a job's event log, merged from every node's events in the store (JSON lines, in time order)")
  .requiredOption('--store <url>', 'the shared store: etcd://host:port[,host:port...]')
  .requiredOption('--job <id>', 'job id')
  .action(async (o: { store: string; job: string }) => {
    const store = await openStore(o.store);
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
  if (e instanceof RollcallError && e.code === 'ERR_INVALID_ARGUMENT') {
    console.error(`rollcall: ${e.message}`);
    process.exit(2);
  }
  if (e instanceof RollcallError) console.error(`rollcall: ${e.code}: ${e.message}`);
  else console.error(`rollcall: ${(e as Error)?.message ?? String(e)}`);
  process.exit(1);
});
