import { type Deadline } from '../util/deadline.js';
import type { Conn, Listener, Transport } from './transport.js';
export declare class TcpTransport implements Transport {
    listen(onConn: (conn: Conn) => void, host?: string): Promise<Listener>;
    dial(address: string, deadline: Deadline): Promise<Conn>;
}
export declare function parseHostPort(address: string): {
    host: string;
    port: number;
};
