export var ProxyState;
(function (ProxyState) {
    ProxyState["Starting"] = "starting";
    /** Store connected, no generation yet: a relaunch only pays the rendezvous. */
    ProxyState["Standby"] = "standby";
    ProxyState["Ready"] = "ready";
    ProxyState["Broken"] = "broken";
    ProxyState["Closed"] = "closed";
})(ProxyState || (ProxyState = {}));
/**
 * Where the proxy's communicator runs (docs/architecture.md, "The communication proxy"):
 * - `inline`: on the program's own thread. No hand-off per operation; the communicator is
 *   still disposable: it is destroyed and rebuilt for each generation, the program is not.
 * - `thread`: in a worker thread of the program's process. Each operation is a message to it.
 */
export const PROXY_KINDS = ['inline', 'thread'];
//# sourceMappingURL=proxy.js.map