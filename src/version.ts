import pkg from "../package.json" with { type: "json" };

export const VERSION: string = pkg.version;
export const SOFTWARE = `hole-punch/${VERSION}`;
