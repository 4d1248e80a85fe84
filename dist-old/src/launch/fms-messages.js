export {};
//# sourceMappingURL=fms-messages.js.map