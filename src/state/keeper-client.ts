import { connect as netConnect, type Socket } from 'node:net';
import { macMatches, newNonce } from '../protocol/challenge.js';
import { AuthError, InvalidArgumentError, ProtocolError, TimeoutError } from '../errors.js';
import { frame, KeeperChallengeSchema, keeperMac, MessageReader, type WireMessage } from '../protocol/keeper-wire.js';
import { splitHostPort } from '../util/host.js';
import { NO_JIT } from '../protocol/no-jit.js';

/** Runs a synchronous stretch of work, perhaps timing it. */
export type Timed = <T>(f: () => T) => T;
const untimed: Timed = (f) => f();

/**
 * A connection to another node's keeper, one request at a time, each with a deadline. Any error
 * closes it; the next request reconnects.
 */
export class KeeperClient {
  private sock: Socket | undefined;
  private waiting: ((m: WireMessage | Error) => void) | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly address: string,
    private readonly job: string,
    private readonly secret: string,
  ) {}

  /** `timed` wraps the synchronous write of the request (stream-cost.ts: the further peers' stream counts its own). */
  request(head: Record<string, unknown>, body: Uint8Array | undefined, timeoutMs: number, timed: Timed = untimed): Promise<WireMessage> {
    return this.session((exchange) => exchange(head, body, timeoutMs, timed));
  }

  /**
   * Several exchanges back to back, none of another caller's in between: a push and its data
   * are one (the keeper holds one pending push per connection). Two streams push to the same
   * peer (a version on the far lattice goes to the first peer on both), and queued request by
   * request, a second push landed between the first one and its data.
   */
  session<T>(fn: (exchange: (head: Record<string, unknown>, body: Uint8Array | undefined, timeoutMs: number, timed?: Timed) => Promise<WireMessage>) => Promise<T>): Promise<T> {
    const run = (): Promise<T> => fn((head, body, timeoutMs, timed = untimed) => this.exchange(head, body, timeoutMs, timed));
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async exchange(head: Record<string, unknown>, body: Uint8Array | undefined, timeoutMs: number, timed: Timed): Promise<WireMessage> {
    const sock = await this.connected(timeoutMs);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.close();
        reject(new TimeoutError(`keeper ${this.address} did not answer ${String(head.op)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = (m) => {
        clearTimeout(timer);
        this.waiting = undefined;
        if (m instanceof Error) reject(m);
        else resolve(m);
      };
      timed(() => {
        sock.cork();
        for (const b of frame(head, body)) sock.write(b);
        sock.uncork();
      });
    });
  }

  /**
   * Connects and authenticates (keeper-wire.ts): resolves once our `auth` is written, after the
   * keeper proved it holds the job's secret. A keeper that refuses us answers `refused` before
   * closing; that, or a challenge whose MAC does not match, is an AuthError.
   */
  private connected(timeoutMs: number): Promise<Socket> {
    if (this.sock && !this.sock.destroyed) return Promise.resolve(this.sock);
    const to = splitHostPort(this.address);
    if (!to) return Promise.reject(new InvalidArgumentError(`bad keeper address ${JSON.stringify(this.address)}: want host:port`));
    return new Promise((resolve, reject) => {
      const sock = netConnect({ host: to.host, port: to.port });
      sock.setNoDelay(true);
      const send = (head: Record<string, unknown>): void => {
        sock.cork();
        for (const b of frame(head)) sock.write(b);
        sock.uncork();
      };
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new TimeoutError(`could not connect to and authenticate with keeper ${this.address} within ${timeoutMs} ms`));
      }, timeoutMs);
      const nonce = newNonce();
      let authed = false;
      const reader = new MessageReader();
      const fail = (e: Error): void => {
        clearTimeout(timer);
        if (this.sock === sock) this.sock = undefined;
        sock.destroy();
        this.waiting?.(e);
        reject(e);
      };
      const onChallenge = (head: Record<string, unknown>): void => {
        const c = KeeperChallengeSchema.safeParse(head, NO_JIT);
        if (!c.success) return fail(new ProtocolError(`keeper ${this.address} answered our hello with ${JSON.stringify(head).slice(0, 120)}`));
        // The keeper proves it holds the secret before we send it anything of the job's state.
        if (!macMatches(keeperMac(this.secret, 'acceptor', this.job, nonce, c.data.nonce), c.data.mac)) {
          return fail(new AuthError(`keeper ${this.address}: challenge MAC does not match; it does not hold this job's secret`));
        }
        send({ op: 'auth', mac: keeperMac(this.secret, 'dialer', this.job, nonce, c.data.nonce) });
        authed = true;
        clearTimeout(timer);
        this.sock = sock;
        resolve(sock);
      };
      sock.once('connect', () => send({ op: 'hello', job: this.job, nonce }));
      sock.on('data', (d: Buffer) => {
        try {
          reader.push(d, (m) => {
            if (m.head.op === 'refused') fail(new AuthError(`keeper ${this.address} refused us: ${String(m.head.message)}`));
            else if (!authed) onChallenge(m.head);
            else this.waiting?.(m);
          });
        } catch (e) {
          fail(e as Error);
        }
      });
      sock.on('error', (e) => fail(e));
      sock.on('close', () => fail(new ProtocolError(`keeper ${this.address} closed the connection`)));
    });
  }

  close(): void {
    this.sock?.destroy();
    this.sock = undefined;
  }
}
