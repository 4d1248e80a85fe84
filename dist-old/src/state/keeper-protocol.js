export {};
//# sourceMappingURL=keeper-protocol.js.map