import { createHmac, timingSafeEqual } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { ProtocolError, TimeoutError } from '../errors.js';
const MAX_HEAD = 1 << 20;
const MAX_BODY = 2 ** 31 - 1;
export function frame(head, body = new Uint8Array(0)) {
    const h = Buffer.from(JSON.stringify(head));
    const a = Buffer.alloc(4);
    a.writeUInt32LE(h.length);
    const b = Buffer.alloc(4);
    b.writeUInt32LE(body.byteLength);
    return [a, h, b, Buffer.from(body.buffer, body.byteOffset, body.byteLength)];
}
/**
 * Splits a byte stream into messages; throws ProtocolError on nonsense (the caller drops the
 * peer). Chunks are joined once per message, when all of it has arrived: joining on every chunk
 * copied a 4 MiB replica some sixty times over (16 ms of a core per replica).
 */
export class MessageReader {
    chunks = [];
    have = 0;
    /** Bytes the message at the front needs before anything more can be parsed. */
    need = 4;
    push(chunk, onMessage) {
        this.chunks.push(chunk);
        this.have += chunk.length;
        while (this.have >= this.need) {
            const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.have);
            this.chunks = [all];
            const hl = all.readUInt32LE(0);
            if (hl > MAX_HEAD)
                throw new ProtocolError(`state message header of ${hl} bytes`);
            if (all.length < 8 + hl) {
                this.need = 8 + hl;
                continue;
            }
            const bl = all.readUInt32LE(4 + hl);
            if (bl > MAX_BODY)
                throw new ProtocolError(`state message body of ${bl} bytes`);
            if (all.length < 8 + hl + bl) {
                this.need = 8 + hl + bl;
                continue;
            }
            let head;
            try {
                head = JSON.parse(all.subarray(4, 4 + hl).toString('utf8'));
            }
            catch {
                throw new ProtocolError('state message header is not JSON');
            }
            const body = new Uint8Array(all.buffer, all.byteOffset + 8 + hl, bl);
            const rest = all.subarray(8 + hl + bl);
            this.chunks = rest.length > 0 ? [rest] : [];
            this.have = rest.length;
            this.need = 4;
            onMessage({ head, body });
        }
    }
}
export function keeperToken(secret, job) {
    return createHmac('sha256', secret).update(`rollcall-state\n${job}`).digest('hex');
}
export function tokenOk(expected, got) {
    if (typeof got !== 'string' || got.length !== expected.length)
        return false;
    return timingSafeEqual(Buffer.from(expected), Buffer.from(got));
}
/**
 * A connection to another node's keeper, one request at a time, each with a deadline. Any error
 * closes it; the next request reconnects.
 */
export class KeeperClient {
    address;
    token;
    sock;
    reader = new MessageReader();
    waiting;
    queue = Promise.resolve();
    constructor(address, token) {
        this.address = address;
        this.token = token;
    }
    request(head, body, timeoutMs) {
        const run = () => this.exchange(head, body, timeoutMs);
        const p = this.queue.then(run, run);
        this.queue = p.catch(() => undefined);
        return p;
    }
    async exchange(head, body, timeoutMs) {
        const sock = await this.connected(timeoutMs);
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                this.close();
                reject(new TimeoutError(`keeper ${this.address} did not answer ${String(head.op)} within ${timeoutMs} ms`));
            }, timeoutMs);
            this.waiting = (m) => {
                clearTimeout(timer);
                this.waiting = undefined;
                if (m instanceof Error)
                    reject(m);
                else
                    resolve(m);
            };
            sock.cork();
            for (const b of frame(head, body))
                sock.write(b);
            sock.uncork();
        });
    }
    connected(timeoutMs) {
        if (this.sock && !this.sock.destroyed)
            return Promise.resolve(this.sock);
        const i = this.address.lastIndexOf(':');
        return new Promise((resolve, reject) => {
            const sock = netConnect({ host: this.address.slice(0, i), port: Number(this.address.slice(i + 1)) });
            sock.setNoDelay(true);
            const timer = setTimeout(() => {
                sock.destroy();
                reject(new TimeoutError(`could not connect to keeper ${this.address} within ${timeoutMs} ms`));
            }, timeoutMs);
            sock.once('connect', () => {
                clearTimeout(timer);
                this.sock = sock;
                this.reader = new MessageReader();
                sock.cork();
                for (const b of frame({ op: 'auth', token: this.token }))
                    sock.write(b);
                sock.uncork();
                resolve(sock);
            });
            sock.on('data', (d) => {
                try {
                    this.reader.push(d, (m) => this.waiting?.(m));
                }
                catch (e) {
                    this.waiting?.(e);
                    sock.destroy();
                }
            });
            const fail = (e) => {
                clearTimeout(timer);
                if (this.sock === sock)
                    this.sock = undefined;
                this.waiting?.(e ?? new ProtocolError(`keeper ${this.address} closed the connection`));
                reject(e ?? new Error('closed'));
            };
            sock.on('error', fail);
            sock.on('close', () => fail());
        });
    }
    close() {
        this.sock?.destroy();
        this.sock = undefined;
    }
}
//# sourceMappingURL=keeper-wire.js.map