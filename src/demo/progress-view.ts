import { parseEvent, type EventLine } from '../protocol/events.js';

/**
 * The demo's live view on stderr: a progress bar redrawn in place on a terminal (a line per 10 %
 * otherwise), with the fault and the recovery printed above it as they happen.
 */
export class ProgressView {
  private step = 0;
  private lastTenth = -1;
  private drawn = false;
  private readonly tty: boolean;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly total: number,
    private readonly enabled: boolean,
  ) {
    this.tty = stream.isTTY === true;
  }

  progress(step: number): void {
    if (step <= this.step) return;
    this.step = step;
    if (!this.enabled) return;
    if (this.tty) this.draw();
    else {
      const tenth = Math.floor((10 * step) / this.total);
      if (tenth > this.lastTenth) {
        this.lastTenth = tenth;
        this.stream.write(`${this.bar()}\n`);
      }
    }
  }

  say(line: string): void {
    if (!this.enabled) return;
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.stream.write(`${line}\n`);
    if (this.drawn) this.draw();
  }

  event(raw: EventLine): void {
    const e = parseEvent(raw);
    switch (e?.event) {
      case 'fault_injected':
        this.say(`  ✗ step ${this.step}: node ${e.node}'s program killed (${e.spec})`);
        break;
      case 'fault_detected':
        this.say(`  ! node ${e.by} detected the fault of node ${e.failed.join(',')} (${e.cause})`);
        break;
      case 'membership_updated':
        this.say(`  ↻ generation ${e.generation}: members ${e.members.join(',')}${e.added.length ? ` (spare ${e.added.join(',')} brought in)` : ''}`);
        break;
      case 'common_state_selected':
        this.say(`  ↺ every node rolled back to version ${e.version} (step ${e.step})`);
        break;
      case 'replica_interval_chosen':
        this.say(`  ⇄ generation ${e.generation}: replicas of every ${e.every}th commit from commit ${e.from_version} (steps of ${e.step_ms} ms)`);
        break;
      case 'version_interval_chosen':
        this.say(`  ⇄ generation ${e.generation}: a version of every ${e.every}th commit from commit ${e.from_commit}`);
        break;
      case 'recovered':
        this.say(`  ✓ running again ${e.ms} ms after ${e.from === 'fault_injected' ? 'the crash' : e.from === 'last_sign_of_life' ? 'its last sign of life' : 'the fault was seen'}${e.detectionMs === null || e.detectionMs === undefined ? '' : ` (detected after ${e.detectionMs} ms)`}; no program was restarted`);
        break;
    }
  }

  done(): void {
    if (this.enabled && this.tty && this.drawn) this.stream.write('\n');
    this.drawn = false;
  }

  private bar(): string {
    const width = 30;
    const filled = Math.round((width * this.step) / this.total);
    return `  [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] step ${this.step}/${this.total}`;
  }

  private draw(): void {
    this.stream.write(`\r\x1b[K${this.bar()}`);
    this.drawn = true;
  }
}
