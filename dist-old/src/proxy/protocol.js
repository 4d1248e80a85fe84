import { PeerFailedError, RendezvousTimeoutError, RollcallError } from '../errors.js';
/** Flattens an error for postMessage/IPC, keeping every field revive() needs to rebuild it. */
export function serializeError(e) {
    if (e instanceof RollcallError) {
        const j = e.toJSON();
        return {
            name: e.name,
            code: e.code,
            message: e.message,
            rank: e.rank,
            failedRanks: j.failedRanks,
            reason: j.reason,
            detectedBy: j.detectedBy,
            detail: e instanceof PeerFailedError ? e.detail : undefined,
            missingRanks: e instanceof RendezvousTimeoutError ? e.missingRanks : undefined,
        };
    }
    const err = e;
    return { name: err?.name ?? 'Error', code: 'ERR_INTERNAL', message: err?.message ?? String(e) };
}
//# sourceMappingURL=protocol.js.map