import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';

/**
 * Several hosts on one machine: each host a network namespace with its own address, joined by a
 * bridge that lives in a namespace of its own, so nothing of the test touches the machine's own
 * interfaces or routes. Needs root and iproute2 (.ci/run installs it); where namespaces cannot be
 * made, `makeHosts` throws and the test fails, saying why, rather than passing without running.
 */
export interface Host {
  name: string;
  /** The namespace; run a command in it with `argv()`. */
  ns: string;
  address: string;
  /** The command line to run `cmd` inside this host's namespace. */
  argv(cmd: string[]): string[];
  /** Cuts this host off: its link goes down (every peer and the store become unreachable). */
  partition(): void;
  heal(): void;
}

export interface Network {
  hosts: Host[];
  subnet: string;
  /** Kills whatever still runs in the namespaces and deletes them. */
  destroy(): void;
}

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.error) throw new Error(`ip ${args.join(' ')}: ${r.error.message} (is iproute2 installed?)`);
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

export function makeHosts(names: string[]): Network {
  if (process.getuid?.() !== 0) throw new Error('multi-host tests make network namespaces and need root');
  const id = randomInt(0x1000, 0xffff).toString(16);
  // 10.x.y.0/24 inside namespaces only: no clash with the machine's own networks is possible.
  const subnet = `10.${randomInt(100, 250)}.${randomInt(1, 250)}`;
  const sw = `rc${id}-sw`;
  const made: string[] = [];
  const destroy = (): void => {
    for (const ns of made) {
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
      for (const p of pids) {
        try {
          process.kill(Number(p), 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
      spawnSync('ip', ['netns', 'del', ns]);
    }
  };
  try {
    ip('netns', 'add', sw);
    made.push(sw);
    ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', sw, 'link', 'set', 'br0', 'up');
    ip('-n', sw, 'link', 'set', 'lo', 'up');
    const hosts = names.map((name, i): Host => {
      const ns = `rc${id}-${name}`;
      const address = `${subnet}.${i + 10}`;
      ip('netns', 'add', ns);
      made.push(ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `p${i}`, 'netns', sw);
      ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
      ip('-n', sw, 'link', 'set', `p${i}`, 'master', 'br0');
      ip('-n', sw, 'link', 'set', `p${i}`, 'up');
      return {
        name,
        ns,
        address,
        argv: (cmd) => ['ip', 'netns', 'exec', ns, ...cmd],
        partition: () => ip('-n', sw, 'link', 'set', `p${i}`, 'down'),
        heal: () => ip('-n', sw, 'link', 'set', `p${i}`, 'up'),
      };
    });
    return { hosts, subnet, destroy };
  } catch (e) {
    destroy();
    throw new Error(`could not make network namespaces for a multi-host test: ${(e as Error).message}`);
  }
}
