import { ProtocolError } from '../errors.js';
import { FrameType } from './frame.js';
import { LinkState } from './link.js';
export var PeerState;
(function (PeerState) {
    PeerState["Ready"] = "ready";
    /** The peer closed its communicator cleanly (BYE). */
    PeerState["Departed"] = "departed";
    PeerState["Failed"] = "failed";
})(PeerState || (PeerState = {}));
/**
 * One remote rank, reached over two links: `rx`, which we dialed and read from, and `tx`,
 * which it dialed and we write to. See tcp-transport.ts for why reads want dialed sockets.
 */
export class Peer {
    rank;
    rx;
    tx;
    state = PeerState.Ready;
    constructor(rank, rx, tx) {
        this.rank = rank;
        this.rx = rx;
        this.tx = tx;
    }
    get lastHeard() {
        return this.rx.lastHeard;
    }
    set lastHeard(t) {
        this.rx.lastHeard = t;
    }
    get lastSent() {
        return this.tx.lastSent;
    }
    attach(handler) {
        const lost = (err) => {
            if (this.state !== PeerState.Ready)
                return;
            this.state = err === undefined ? PeerState.Departed : PeerState.Failed;
            handler.lost(this, err);
        };
        this.rx.attach({ frame: (h, p) => handler.frame(this, h, p), lost });
        // Only final words (ABORT, BYE) come back on the link we send on; see sendFinal().
        this.tx.attach({
            frame: (h, p) => {
                if (h.type === FrameType.Abort)
                    handler.frame(this, h, p);
                else
                    lost(new ProtocolError(`rank ${this.rank}: ${FrameType[h.type]} frame on a send-only link`, { rank: this.rank }));
            },
            // A clean FIN on the link we only send on carries no news of its own: the remote closes it
            // when it says goodbye on our receive link, and a crash closes the receive link too.
            // Only the receive link is ordered with the data, so only it decides.
            lost: (err) => {
                if (!this.tx.endedCleanly)
                    lost(err);
            },
        });
    }
    send(type, h, payload, onFlushed) {
        this.tx.send(type, h, payload, onFlushed);
    }
    sendFrame(type, f, step, offset, payload, onFlushed) {
        this.tx.sendFrame(type, f, step, offset, payload, onFlushed);
    }
    /**
     * Sends a last frame on *both* links and closes them gracefully. The two TCP connections are
     * not ordered with each other, so a frame on one and a FIN on the other could arrive in
     * either order; on both links the frame always comes before that link's FIN.
     */
    sendFinal(type, payload) {
        if (this.state !== PeerState.Ready)
            return;
        this.state = PeerState.Failed;
        for (const l of [this.tx, this.rx]) {
            if (l.state !== LinkState.Ready)
                continue;
            l.send(type, {}, payload);
            l.conn.end();
        }
    }
    /**
     * A clean goodbye. BYE goes only where the data goes (tx), so it cannot overtake the last
     * frames of a collective; the other link is just closed.
     */
    bye() {
        if (this.state !== PeerState.Ready)
            return;
        this.state = PeerState.Departed;
        this.tx.bye();
        this.rx.conn.end();
    }
    destroy() {
        this.state = PeerState.Failed;
        this.rx.destroy(new Error('destroyed'));
        this.tx.destroy(new Error('destroyed'));
    }
    get usable() {
        return this.state === PeerState.Ready && this.tx.state === LinkState.Ready;
    }
}
//# sourceMappingURL=peer.js.map